#!/usr/bin/env bash
# Smoke test: build utskick, start it with no settings in an empty folder,
# run the README's quickstart block as written, and check that every
# subscriber's mail landed in the outbox exactly once and that the
# one-click unsubscribe in it works.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT

go build -o "$work/utskick" "$repo/cmd/utskick"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cd "$work"
# The only setting: a free port instead of 8080, which CI may have taken.
UTSKICK_HTTP_ADDR=127.0.0.1:$port ./utskick >stdout.log 2>stderr.log &
pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
token=$(grep -o 'utk_[a-z0-9]*' stdout.log | head -1)
[ -n "$token" ] || { echo "smoke: no admin token printed"; cat stdout.log stderr.log; exit 1; }

# The quickstart block from the README, with the printed token and the port.
awk '/^# quickstart$/{on=1;next} on&&/^```$/{exit} on{print}' "$repo/README.md" |
  sed -e "s/^TOKEN=.*/TOKEN=$token/" -e "s/127.0.0.1:8080/127.0.0.1:$port/g" >quickstart.sh
[ "$(wc -l <quickstart.sh)" -gt 10 ] || { echo "smoke: quickstart block not found in README.md"; exit 1; }
bash -euo pipefail quickstart.sh >quickstart.out
cat quickstart.out

# Each subscriber's mail landed exactly once.
for addr in anna@example.se bo@example.se cia@example.se; do
  n=$(grep -l "^To: .*<$addr>" data/outbox/*.eml | wc -l)
  [ "$n" = 1 ] || { echo "smoke: $addr has $n mails in the outbox, want 1"; ls data/outbox; exit 1; }
done
[ "$(ls data/outbox/*.eml | wc -l)" = 3 ] || { echo "smoke: outbox holds $(ls data/outbox | wc -l) mails, want 3"; exit 1; }
grep -q '"status":"sent"' quickstart.out || { echo "smoke: campaign not sent"; exit 1; }

# One-click unsubscribe (RFC 8058) from Anna's List-Unsubscribe header.
mail=$(grep -l "^To: .*<anna@example.se>" data/outbox/*.eml)
link=$(grep -o '^List-Unsubscribe: <[^>]*>' "$mail" | sed 's/^List-Unsubscribe: <\(.*\)>$/\1/')
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -d 'List-Unsubscribe=One-Click' "$link")
[ "$code" = 200 ] || { echo "smoke: one-click answered $code"; exit 1; }
status=$(curl -s -H "Authorization: Bearer $token" "http://127.0.0.1:$port/api/v1/subscribers/1")
echo "$status" | grep -q '"status":"unsubscribed"' || { echo "smoke: Anna still subscribed: $status"; exit 1; }
# A forged token: its first character changed (all five of its bits are the
# token's; the last character's low bits may be padding a decoder ignores,
# and replacing it with "a" left it as it was when it already ended in "a").
tok=${link##*/}
first=a
[ "${tok:0:1}" = a ] && first=b
forged=$(curl -s -o /dev/null -w '%{http_code}' -X POST -d 'List-Unsubscribe=One-Click' "${link%/*}/$first${tok:1}")
[ "$forged" = 400 ] || { echo "smoke: forged token answered $forged"; exit 1; }
echo "smoke: quickstart OK: 3 mails, one each; one-click unsubscribe OK; forged token refused"
