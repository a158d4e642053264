"""Models, their immutable revisions, the files of each revision, and the
content-addressed blobs those files point at."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from distserver.db import Base, UTCDateTime, intpk, utcnow


class Model(Base):
    __tablename__ = "models"

    id: Mapped[intpk]
    namespace: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(96))
    title: Mapped[str] = mapped_column(String(200), default="")
    card: Mapped[str] = mapped_column(Text, default="")
    plan: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (UniqueConstraint("namespace", "name"),)

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"


class Blob(Base):
    __tablename__ = "blobs"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    storage_key: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Revision(Base):
    __tablename__ = "revisions"

    id: Mapped[intpk]
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"), index=True)
    commit: Mapped[str] = mapped_column(String(40))
    message: Mapped[str] = mapped_column(String(500), default="")
    published_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    published_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    files: Mapped[list[File]] = relationship(
        # Loaded only when listed: a download looks up its one file (find_file).
        back_populates="revision",
        order_by="File.path",
        lazy="select",
    )

    __table_args__ = (UniqueConstraint("model_id", "commit"),)


class File(Base):
    __tablename__ = "files"

    id: Mapped[intpk]
    revision_id: Mapped[int] = mapped_column(ForeignKey("revisions.id"))
    path: Mapped[str] = mapped_column(String(1024))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(ForeignKey("blobs.sha256"))

    revision: Mapped[Revision] = relationship(back_populates="files")

    __table_args__ = (UniqueConstraint("revision_id", "path"),)


class RevisionTag(Base):
    """A name for one revision of one model (`v1.0`); never moved once made."""

    __tablename__ = "revision_tags"

    id: Mapped[intpk]
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"))
    revision_id: Mapped[int] = mapped_column(ForeignKey("revisions.id"))
    name: Mapped[str] = mapped_column(String(64))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    revision: Mapped[Revision] = relationship()

    __table_args__ = (UniqueConstraint("model_id", "name"),)
