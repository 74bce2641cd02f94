#!/bin/sh
# Starts redis-server with camrelay's users (users.acl, beside this script), each with the
# password in REDIS_<USER>_PASSWORD: REDIS_CAPTURE_PASSWORD, REDIS_GATEWAY_PASSWORD,
# REDIS_EXPORTER_PASSWORD. A user whose variable is unset or empty is turned off (compose
# leaves the exporter's unset unless its monitoring override runs). Arguments go to
# redis-server after the users: sh start.sh --save '' --appendonly no
#
# Passwords are 16 or more of A-Z a-z 0-9 . _ ~ - (`openssl rand -hex 24`): the same value goes
# into the clients' redis://user:password@host URLs, where other characters would need
# percent-encoding. The users are written to a configuration file of the redis user's own
# (mode 0600, in TMPDIR: a tmpfs in compose and Kubernetes), not to the command line, which
# anyone in the container can read.
set -eu

fail() {
  echo "start.sh: $*" >&2
  exit 64
}

acl=$(dirname "$0")/users.acl
[ -r "$acl" ] || fail "cannot read $acl"
users=''
add() { users="$users$*
"; }

while IFS= read -r line || [ -n "$line" ]; do
  case $line in
    'user '*) ;;
    *) continue ;;
  esac
  name=${line#user }
  name=${name%% *}
  rules=${line#user "$name" }
  case $name in
    default) add "$line" ;;
    *[!a-z]*) fail "users.acl: user name '$name': lower-case letters only" ;;
    *)
      [ "${rules%% *}" = on ] || fail "users.acl: user $name: its rules start with 'on' (the password goes after it)"
      variable=REDIS_$(printf '%s' "$name" | tr '[:lower:]' '[:upper:]')_PASSWORD
      eval "password=\${$variable:-}"
      if [ -z "$password" ]; then
        echo "start.sh: $variable is not set: user $name is off" >&2
        add "user $name off ${rules#on }"
        continue
      fi
      case $password in
        *[!A-Za-z0-9._~-]*) fail "$variable: only A-Z a-z 0-9 . _ ~ - (it goes into redis:// URLs as it is)" ;;
      esac
      [ "${#password}" -ge 16 ] || fail "$variable: 16 characters or more"
      add "user $name on >$password ${rules#on }"
      ;;
  esac
done <"$acl"

umask 077
config=$(mktemp "${TMPDIR:-/tmp}/camrelay-redis-users.XXXXXX")
printf '%s' "$users" >"$config"
exec redis-server "$config" "$@"
