#!/usr/bin/env bash
# tls_verify.sh POLYWS - certificate verification of `polyws watch` (libpolyws) against
# `polyws mock --tls --cert --key`, over 127.0.0.1 and localhost:
#  - a test CA trusted through the system store's variables (SSL_CERT_FILE, SSL_CERT_DIR with
#    hashed links), through --ca, and --ca replacing the store;
#  - a certificate for another name, an expired one, one not yet valid and a self-signed one are
#    each refused at once: exit 1, one stderr line naming the reason, one TCP connection seen
#    by the mock (counted before TLS), no retry, although --max-attempts is 0 (never give up).
# Every certificate and key is made here by the openssl command, in the test's temporary
# directory, and removed at exit.
set -u
POLYWS=$1
. "$(dirname "$0")/lib.sh" # tmp, servers stopped at exit, ok/bad, start

command -v openssl >/dev/null || { echo "the openssl command is needed (Debian package openssl)"; exit 1; }
export SECRET_KEY="tls-secret-key-27182818"
pki=$tmp/pki
mkdir -p "$pki/hashed"

# ---------------------------------------------------------------- certificates
cd "$pki" || exit 1
quiet() { "$@" >>"$pki/openssl.log" 2>&1 || { echo "openssl failed: $*"; cat "$pki/openssl.log"; exit 1; }; }
newkey=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
quiet openssl req -x509 "${newkey[@]}" -keyout ca.key -out ca.pem -days 2 -subj "/CN=polyws test CA" \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
cat >ca.cnf <<'EOF'
[ca]
default_ca = test_ca
[test_ca]
database = index.txt
new_certs_dir = .
serial = serial
default_md = sha256
policy = any_name
unique_subject = no
[any_name]
commonName = supplied
EOF
: >index.txt
echo 01 >serial
# leaf NAME CN SAN START END: NAME.pem and NAME.key, signed by the test CA (dates YYYYMMDDhhmmssZ)
leaf() {
  quiet openssl req "${newkey[@]}" -keyout "$1.key" -out "$1.csr" -subj "/CN=$2"
  printf 'basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\nsubjectAltName=%s\n' "$3" >"$1.ext"
  quiet openssl ca -batch -notext -config ca.cnf -cert ca.pem -keyfile ca.key -in "$1.csr" -out "$1.pem" \
    -startdate "$4" -enddate "$5" -extfile "$1.ext"
}
day() { date -u -d "$1" +%Y%m%d%H%M%SZ; }
leaf good 127.0.0.1 "IP:127.0.0.1,DNS:localhost" "$(day '-1 hour')" "$(day '+2 days')"
leaf other other.example "DNS:other.example" "$(day '-1 hour')" "$(day '+2 days')"
leaf expired 127.0.0.1 "IP:127.0.0.1,DNS:localhost" 20200101000000Z 20200102000000Z
leaf future 127.0.0.1 "IP:127.0.0.1,DNS:localhost" "$(day '+30 days')" "$(day '+60 days')"
quiet openssl req -x509 "${newkey[@]}" -keyout self.key -out self.pem -days 2 -subj "/CN=127.0.0.1" \
  -addext subjectAltName=IP:127.0.0.1,DNS:localhost
# SSL_CERT_DIR holds certificates under their subject hash (HASH.0), as c_rehash makes them
cp ca.pem hashed/test-ca.pem
if ! openssl rehash hashed >>openssl.log 2>&1; then quiet c_rehash hashed; fi
cd - >/dev/null || exit 1
hash=$(openssl x509 -in "$pki/ca.pem" -noout -subject_hash)
if [ -e "$pki/hashed/$hash.0" ]; then ok "test CA, leaves and the hashed directory made"; else bad "no $hash.0 in the hashed directory"; ls -l "$pki/hashed"; fi

# ---------------------------------------------------------------- helpers
# mock_tls NAME CERT: a mock serving wss:// with $pki/CERT.pem; sets PORT and MOCKPID
mock_tls() {
  start "$1" "$POLYWS" mock --tls --cert "$pki/$2.pem" --key "$pki/$2.key" --accept-key-env SECRET_KEY --rate 500
  PORT=${URL##*:}
  MOCKPID=$LASTPID
}
# mock_counts NAME: stops the mock started last (in this shell: a subshell cannot wait for it)
# and sets COUNTS to its "connections N tcp M websocket" line and MOCKRC to its exit status
mock_counts() {
  kill -TERM "$MOCKPID"
  wait "$MOCKPID" 2>/dev/null
  MOCKRC=$?
  COUNTS=$(grep '^connections ' "$tmp/$1.out")
}
# watch_tls OUT HOST [VAR=VALUE...] [-- OPTIONS...]: polyws watch wss://HOST:PORT/stocks for 5
# aggregates, 20 s at most, with only the TLS variables given (none of the caller's); retries as
# fast as --backoff-ms 50 allows and never gives up, so a retry loop would show.  stdout in
# $tmp/OUT.jsonl, stderr in $tmp/OUT.err, exit status in RC.
watch_tls() {
  local out=$1 host=$2
  shift 2
  local vars=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do vars+=("$1"); shift; done
  [ $# -gt 0 ] && shift
  env -u POLYWS_CA_FILE -u SSL_CERT_FILE -u SSL_CERT_DIR POLYWS_API_KEY="$SECRET_KEY" "${vars[@]}" \
    timeout 20 "$POLYWS" watch "wss://$host:$PORT/stocks" -s A.AAPL --count 5 --format jsonl \
    --max-attempts 0 --backoff-ms 50 "$@" >"$tmp/$out.jsonl" 2>"$tmp/$out.err"
  RC=$?
}
# expect_events WHAT OUT: the run ended by --count with 5 aggregates
expect_events() {
  if [ "$RC" -eq 0 ] && [ "$(grep -c '"ev":"A"' "$tmp/$2.jsonl")" -eq 5 ]; then ok "$1"
  else bad "$1 (rc=$RC)"; cat "$tmp/$2.err"; fi
}
# expect_refused WHAT OUT REASON DETAIL: exit 1 at the first attempt, with the final line naming
# the verify error and the certificate, and nothing on stdout
expect_refused() {
  local err=$tmp/$2.err
  local tries
  tries=$(grep -c 'connecting (connection' "$err")
  if [ "$RC" -eq 1 ] && [ ! -s "$tmp/$2.jsonl" ] && [ "$tries" -eq 1 ] && ! grep -q 'reconnecting in' "$err" &&
     tail -n 1 "$err" | grep -qF "polyws watch: tls: certificate verify failed: $3 (" &&
     tail -n 1 "$err" | grep -qF -- "$4" && tail -n 1 "$err" | grep -qF '(permanent: not retrying)'; then
    ok "$1: $(tail -n 1 "$err" | cut -c 15-)"
  else
    bad "$1 (rc=$RC, $tries attempts)"; cat "$err"
  fi
}
# expect_counts WHAT NAME TCP WS: the mock saw exactly TCP connections, WS of them WebSockets
expect_counts() {
  mock_counts "$2"
  if [ "$MOCKRC" -eq 0 ] && [ "$COUNTS" = "connections $3 tcp $4 websocket" ]; then
    ok "$1: the mock saw $3 TCP connections, $4 WebSockets"
  else
    bad "$1: the mock says '$COUNTS' (exit $MOCKRC), expected $3 tcp $4 websocket"; cat "$tmp/$2.out" "$tmp/$2.err"
  fi
}

# ---------------------------------------------------------------- trusted
mock_tls good good
watch_tls file 127.0.0.1 SSL_CERT_FILE="$pki/ca.pem"
expect_events "no --ca, the test CA in SSL_CERT_FILE: verified for IP 127.0.0.1" file
watch_tls file_name localhost SSL_CERT_FILE="$pki/ca.pem"
expect_events "no --ca, the test CA in SSL_CERT_FILE: verified for DNS localhost" file_name
watch_tls dir 127.0.0.1 SSL_CERT_FILE="$pki/none.pem" SSL_CERT_DIR="$pki/hashed"
expect_events "no --ca, the test CA in SSL_CERT_DIR (hashed links), no CA file" dir
watch_tls ca 127.0.0.1 -- --ca "$pki/ca.pem"
expect_events "--ca with the test CA" ca
watch_tls envca localhost POLYWS_CA_FILE="$pki/ca.pem"
expect_events "\$POLYWS_CA_FILE with the test CA" envca
# the control: the same server without the test CA anywhere (the real system store)
watch_tls nostore 127.0.0.1
expect_refused "the system store alone" nostore "unable to get local issuer certificate" \
  "CN=127.0.0.1, issued by CN=polyws test CA"
# --ca replaces the store: SSL_CERT_FILE would trust the server, the given bundle does not
watch_tls replaced 127.0.0.1 SSL_CERT_FILE="$pki/ca.pem" -- --ca "$pki/self.pem"
expect_refused "--ca replaces the system store" replaced "unable to get local issuer certificate" \
  "issued by CN=polyws test CA"
expect_counts "trusted" good 7 5

# ---------------------------------------------------------------- refused
mock_tls other other
watch_tls other_ip 127.0.0.1 SSL_CERT_FILE="$pki/ca.pem"
expect_refused "a certificate for another name, by IP" other_ip "IP address mismatch" \
  "CN=other.example, valid for DNS:other.example), connecting to 127.0.0.1:$PORT"
watch_tls other_name localhost SSL_CERT_FILE="$pki/ca.pem"
expect_refused "a certificate for another name, by name" other_name "hostname mismatch" \
  "CN=other.example, valid for DNS:other.example), connecting to localhost:$PORT"
expect_counts "another name" other 2 0

mock_tls expired expired
watch_tls expired 127.0.0.1 SSL_CERT_FILE="$pki/ca.pem"
expect_refused "an expired certificate" expired "certificate has expired" \
  "CN=127.0.0.1, expired Jan  2 00:00:00 2020 GMT"
# --insecure still connects, and says that nothing was checked
watch_tls insecure 127.0.0.1 -- --insecure
expect_events "--insecure accepts the expired certificate" insecure
if grep -q "verification is OFF" "$tmp/insecure.err"; then ok "--insecure warns"; else bad "--insecure did not warn"; cat "$tmp/insecure.err"; fi
expect_counts "expired" expired 2 1

mock_tls future future
watch_tls future localhost SSL_CERT_FILE="$pki/ca.pem"
expect_refused "a certificate not yet valid" future "certificate is not yet valid" "CN=127.0.0.1, valid from "
expect_counts "not yet valid" future 1 0

mock_tls self self
watch_tls self 127.0.0.1 SSL_CERT_FILE="$pki/ca.pem"
expect_refused "a self-signed certificate without --ca" self "self-signed certificate" "(CN=127.0.0.1)"
watch_tls self_quiet 127.0.0.1 -- -q
if [ "$RC" -eq 1 ] && [ "$(wc -l <"$tmp/self_quiet.err")" -eq 1 ] &&
   grep -q '^polyws watch: tls: certificate verify failed: self-signed certificate' "$tmp/self_quiet.err"; then
  ok "-q: the refusal is the one line on stderr"
else bad "-q refusal (rc=$RC)"; cat "$tmp/self_quiet.err"; fi
watch_tls self_ca 127.0.0.1 -- --ca "$pki/self.pem"
expect_events "the self-signed certificate given as --ca" self_ca
expect_counts "self-signed" self 3 1

# the key is in no output
if grep -rqF -- "$SECRET_KEY" "$tmp"/*.jsonl "$tmp"/*.err "$tmp"/*.out; then bad "the API key was printed"; else ok "the API key is in no output"; fi

echo "$passes passed, $fails failed"
[ $fails -eq 0 ]
