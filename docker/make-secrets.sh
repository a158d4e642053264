#!/bin/sh
# Makes the keys and passwords docker/compose.yaml hands to its services as Docker
# secrets, one file each, in docker/secrets/ (or the folder given). Only missing files
# are made: running it again never replaces a key (replacing one is a rotation, see
# docs/operations.md). Needs only openssl.
set -eu
dir=${1:-$(dirname "$0")/secrets}
mkdir -p "$dir"
# Nobody else on the host may enter the folder; the files themselves stay readable so
# the containers' own users (the app runs as uid 10001) can read their bind mounts.
chmod 700 "$dir"
umask 022

secret() {  # secret NAME COMMAND...: write the command's output to NAME unless it exists
  name=$1
  shift
  if [ -e "$dir/$name" ]; then
    echo "kept    $name"
  else
    "$@" > "$dir/$name.tmp" && mv "$dir/$name.tmp" "$dir/$name"
    echo "made    $name"
  fi
}
random() { openssl rand -hex "$1" | tr -d '\n'; }

secret secret-key sh -c 'openssl rand -base64 48 | tr "+/" "-_" | tr -d "=\n"'
secret audit-signing-key.pem openssl genpkey -algorithm ed25519
# A Fernet key: URL-safe base64 of 32 random bytes.
secret totp-encryption-key sh -c 'openssl rand -base64 32 | tr "+/" "-_" | tr -d "\n"'
secret fingerprint-keys sh -c 'printf "{\"k1\": \"%s\"}" "$(openssl rand -base64 32)"'
secret metrics-token random 32
secret postgres-password random 24
secret database-url sh -c "printf 'postgresql+psycopg://distserver:%s@db:5432/distserver' \"\$(cat '$dir/postgres-password')\""
secret s3-access-key sh -c "printf 'distserver-%s' \"\$(openssl rand -hex 6)\""
secret s3-secret-key random 24
secret s3-credentials sh -c "printf '[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n' \"\$(cat '$dir/s3-access-key')\" \"\$(cat '$dir/s3-secret-key')\""
# Empty until you put the SMTP relay's password here (if it needs one).
secret smtp-password true
