"""The JSON shapes of the Hugging Face door, declared once. The door stays shaped by
hand, after the Hub (whose contract it is; no OpenAPI document of ours describes it):
these TypedDicts name every field the builders of hf/serializers.py and the views
write, and mypy holds the builders to them. TypedDicts rather than pydantic models:
they cost nothing at run time on the door's hot listings."""

from __future__ import annotations

from typing import Literal, NotRequired, TypedDict


class ModelInfo(TypedDict):
    """`GET /api/models/{id}`, and each model of `GET /api/models` (the Hub's own keys,
    "_id" and camelCase, as its clients read them)."""

    _id: str
    id: str
    modelId: str
    author: str
    sha: str | None
    lastModified: str
    createdAt: str
    private: bool
    disabled: bool
    gated: bool | str
    downloads: int
    likes: int
    tags: list[str]
    siblings: NotRequired[list[Sibling]]  # left out of the listing unless ?full is asked
    cardData: NotRequired[dict[str, object]]


class SiblingLfs(TypedDict):
    sha256: str
    size: int
    pointerSize: int


class Sibling(TypedDict):
    rfilename: str
    size: NotRequired[int]
    blobId: NotRequired[str]
    lfs: NotRequired[SiblingLfs]


class LfsInfo(TypedDict):
    oid: str
    size: int
    pointerSize: int


class LastCommit(TypedDict):
    id: str
    title: str | None
    date: str


class TreeEntry(TypedDict):
    """A file or a folder of `tree` and `paths-info`."""

    type: Literal["file", "directory"]
    path: str
    size: int
    oid: str
    lfs: NotRequired[LfsInfo]
    lastCommit: NotRequired[LastCommit]


class CommitAuthor(TypedDict):
    user: str


class CommitEntry(TypedDict):
    id: str
    authors: list[CommitAuthor]
    date: str
    title: str
    message: str


class GitRef(TypedDict):
    name: str
    ref: str
    targetCommit: str


class Refs(TypedDict):
    branches: list[GitRef]
    converts: list[GitRef]
    tags: list[GitRef]
    pullRequests: list[GitRef]


class OrgOfUser(TypedDict):
    type: Literal["org"]
    name: str
    fullname: str


class AccessToken(TypedDict):
    displayName: str
    role: Literal["read", "write"]


class TokenAuth(TypedDict):
    type: Literal["access_token"]
    accessToken: AccessToken


class WhoAmI(TypedDict):
    type: Literal["user"]
    id: str
    name: str
    fullname: str
    email: str
    emailVerified: bool
    isPro: bool
    orgs: list[OrgOfUser]
    auth: TokenAuth


class HubError(TypedDict):
    """Every refusal of the door (hf/refusals.py), as huggingface_hub reads it."""

    error: str
