#!/usr/bin/env bash
# Tests tools/certs: the CA and the node, client and expired certificates it makes (subjects,
# addresses, key usages, validity, key modes), that running again keeps what exists, that --force
# replaces only what is named, the bearer tokens of --token, and a mutually authenticated TLS 1.3
# exchange with the certificates (openssl s_server / s_client, and curl when installed) on a
# random 127.0.0.0/8 address.
#   certs_test.sh SOURCE_DIR
set -euo pipefail
source_dir="${1:?usage: certs_test.sh SOURCE_DIR}"
certs="$source_dir/tools/certs"
work=$(mktemp -d /tmp/actorkv-certs-XXXXXX)
server_pid=""
stop_server() { # only the PID this test started
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
  fi
}
cleanup() {
  stop_server
  rm -rf "$work"
}
trap cleanup EXIT

failures=0
pass() { echo "ok    $1"; }
fail() { echo "FAIL  $1"; failures=$((failures + 1)); }
check() { # description command...: passes when the command succeeds
  local what="$1"; shift
  if "$@" >/dev/null 2>&1; then pass "$what"; else fail "$what"; fi
}
check_not() { # description command...: passes when the command fails
  local what="$1"; shift
  if "$@" >/dev/null 2>&1; then fail "$what"; else pass "$what"; fi
}
check_eq() { # description expected actual
  if [ "$2" = "$3" ]; then pass "$1"; else fail "$1: expected '$2', got '$(brief "$3")'"; fi
}
check_has() { # description needle haystack
  if [[ "$3" == *"$2"* ]]; then pass "$1"; else fail "$1: '$2' not in: $(brief "$3")"; fi
}
brief() { # a long output on one line, its first 400 characters
  local text="${1//$'\n'/ | }"
  if [ ${#text} -gt 400 ]; then echo "${text:0:400} ..."; else echo "$text"; fi
}
subject() { openssl x509 -in "$1" -noout -subject -nameopt RFC2253 | sed 's/^subject=//'; }
ext() { openssl x509 -in "$1" -noout -ext "$2" 2>/dev/null | tail -n +2 | sed 's/^ *//'; }
digest() { openssl dgst -sha256 -r "$@" | cut -d' ' -f1 | paste -sd' ' -; }
valid_in() { openssl x509 -in "$1" -noout -checkend $(($2 * 86400)); } # file days
sha256_of() { printf '%s' "$1" | openssl dgst -sha256 -r | cut -d' ' -f1; }

# A loopback address of our own: the node certificate names it, the TLS server listens on it.
addr="127.$((RANDOM % 250 + 1)).$((RANDOM % 250 + 1)).$((RANDOM % 250 + 1))"
d="$work/certs"

# --- a first run ------------------------------------------------------------------------------
out=$("$certs" "$d" n1 "n2@$addr,node2.example.test,::1" --expired old:read --expired oldnode:node \
  --days 30)
check_eq "one summary line" 1 "$(wc -l <<<"$out")"
check_has "summary names what was made" "new CA; made n1 n2 admin writer reader old oldnode" "$out"
for f in ca n1 n2 admin writer reader old oldnode; do
  check "$f.crt and $f.key exist" test -s "$d/$f.crt" -a -s "$d/$f.key"
  check_eq "$f.key is mode 600" 600 "$(stat -c %a "$d/$f.key")"
done
check_eq "nothing else is left in DIR" "16" "$(find "$d" -mindepth 1 | wc -l)"
if verify_out=$(openssl verify -CAfile "$d/ca.crt" "$d"/{ca,n1,n2,admin,writer,reader}.crt \
  2>&1); then
  pass "openssl verify: every certificate but the expired ones"
else
  fail "openssl verify: $verify_out"
fi
for f in old oldnode; do
  check_not "$f.crt has expired (x509 -checkend 0)" openssl x509 -in "$d/$f.crt" -noout -checkend 0
  check_has "$f.crt: openssl verify says expired" "certificate has expired" \
    "$(openssl verify -CAfile "$d/ca.crt" "$d/$f.crt" 2>&1 || true)"
  check "$f.crt is signed by the CA" openssl verify -no_check_time -CAfile "$d/ca.crt" "$d/$f.crt"
done
check "n1.crt valid for 29 more days" valid_in "$d/n1.crt" 29
check_not "n1.crt not valid in 31 days (--days 30)" valid_in "$d/n1.crt" 31
check "ca.crt valid for 3649 more days" valid_in "$d/ca.crt" 3649
check_not "ca.crt not valid in 3651 days" valid_in "$d/ca.crt" 3651
check_has "ca.crt is a CA" "CA:TRUE" "$(ext "$d/ca.crt" basicConstraints)"

check_eq "n1 subject" "OU=node,CN=n1" "$(subject "$d/n1.crt")"
check_eq "n2 subject" "OU=node,CN=n2" "$(subject "$d/n2.crt")"
check_eq "admin subject" "OU=admin,CN=admin" "$(subject "$d/admin.crt")"
check_eq "writer subject" "OU=write,CN=writer" "$(subject "$d/writer.crt")"
check_eq "reader subject" "OU=read,CN=reader" "$(subject "$d/reader.crt")"
check_eq "old subject" "OU=read,CN=old" "$(subject "$d/old.crt")"
check_eq "oldnode subject" "OU=node,CN=oldnode" "$(subject "$d/oldnode.crt")"
check_eq "n1 SAN" "DNS:localhost, IP Address:127.0.0.1" "$(ext "$d/n1.crt" subjectAltName)"
check_eq "n2 SAN" "DNS:localhost, IP Address:127.0.0.1, IP Address:$addr, DNS:node2.example.test,\
 IP Address:0:0:0:0:0:0:0:1" "$(ext "$d/n2.crt" subjectAltName)"
check_eq "oldnode SAN" "DNS:localhost, IP Address:127.0.0.1" \
  "$(ext "$d/oldnode.crt" subjectAltName)"
check_eq "node EKU" "TLS Web Server Authentication, TLS Web Client Authentication" \
  "$(ext "$d/n1.crt" extendedKeyUsage)"
for f in admin writer reader old; do
  check_eq "$f EKU" "TLS Web Client Authentication" "$(ext "$d/$f.crt" extendedKeyUsage)"
  check_eq "$f has no SAN" "" "$(ext "$d/$f.crt" subjectAltName)"
done
check_has "keys are EC P-256" "prime256v1" "$(openssl pkey -in "$d/n1.key" -noout -text)"
check_has "signatures are ECDSA SHA-256" "ecdsa-with-SHA256" \
  "$(openssl x509 -in "$d/n1.crt" -noout -text | grep 'Signature Algorithm' | head -n 1)"

# --- running again ----------------------------------------------------------------------------
all_files=("$d"/{ca,n1,n2,admin,writer,reader,old,oldnode}.{crt,key})
before=$(digest "${all_files[@]}")
ca_before=$(digest "$d/ca.crt" "$d/ca.key")
out=$("$certs" "$d" n1 "n2@$addr,node2.example.test,::1" --expired old:read --expired oldnode:node)
check_has "a rerun keeps everything" "CA reused; kept n1 n2 admin writer reader old oldnode" "$out"
check_eq "a rerun changes no file" "$before" "$(digest "${all_files[@]}")"
out=$("$certs" "$d" n3 --client ops:admin)
check_has "a rerun adds what is missing" "CA reused; made n3 ops" "$out"
check_eq "the CA stays the same" "$ca_before" "$(digest "$d/ca.crt" "$d/ca.key")"
check "n3 is signed by the same CA" openssl verify -CAfile "$d/ca.crt" "$d/n3.crt" "$d/ops.crt"
check_eq "ops subject" "OU=admin,CN=ops" "$(subject "$d/ops.crt")"
err=$("$certs" "$d" n5 n1@10.9.9.9 2>&1) && rc=0 || rc=$?
check_eq "an existing certificate without an asked address is refused" 1 "$rc"
check_has "the refusal names the address and --force" "is not valid for 10.9.9.9; --force" "$err"
check_not "a refusal makes nothing (n5)" test -e "$d/n5.crt"
check_eq "a refusal changes no file" "$before" "$(digest "${all_files[@]}")"
n1_before=$(digest "$d/n1.crt" "$d/n1.key")
admin_before=$(digest "$d/admin.crt")
out=$("$certs" "$d" n1@10.9.9.9 --force)
check_has "--force replaces what is named" "made n1; kept admin writer reader" "$out"
check "n1 is now valid for 10.9.9.9" bash -c \
  "openssl x509 -in '$d/n1.crt' -noout -checkip 10.9.9.9 | grep -q 'does match'"
check_not "n1's key and certificate are new" test "$n1_before" = "$(digest "$d/n1.crt" "$d/n1.key")"
check_eq "--force leaves the default clients" "$admin_before" "$(digest "$d/admin.crt")"
check_eq "--force leaves the CA" "$ca_before" "$(digest "$d/ca.crt" "$d/ca.key")"
check_eq "n1 is still mode 600" 600 "$(stat -c %a "$d/n1.key")"
check "n1 verifies" openssl verify -CAfile "$d/ca.crt" "$d/n1.crt"
mv "$d/ca.key" "$work/ca.key.saved"
err=$("$certs" "$d" n4 2>&1) && rc=0 || rc=$?
check_eq "a CA certificate without its key is refused" 1 "$rc"
check_has "... and named" "exists without $d/ca.key" "$err"
check_not "... and not replaced" test -e "$d/ca.key"
mv "$work/ca.key.saved" "$d/ca.key"

# --- defaults, tokens, usage ------------------------------------------------------------------
d2="$work/other"
out=$("$certs" "$d2")
check_has "without arguments: the CA and the 3 clients" "new CA; made admin writer reader" "$out"
check "default leaf validity: 824 more days" valid_in "$d2/admin.crt" 824
check_not "default leaf validity: not 826" valid_in "$d2/admin.crt" 826
check_not "two runs make two different CAs" \
  test "$(subject "$d/ca.crt")" = "$(subject "$d2/ca.crt")"
check_not "another CA's certificate does not verify" \
  openssl verify -CAfile "$d/ca.crt" "$d2/admin.crt"

listing=$(ls -la "$d")
out=$("$certs" --token write)
token=$(sed -n 's/^bearer token: //p' <<<"$out")
sha=$(sed -n 's/^sha256 = "\(.*\)"$/\1/p' <<<"$out")
check_has "--token prints [[token]]" $'[[token]]\nname = "write-' "$out"
check_has "--token prints the role" 'role = "write"' "$out"
check "the token is 64 hex digits" bash -c "[[ '$token' =~ ^[0-9a-f]{64}$ ]]"
check_eq "sha256 is the token's SHA-256" "$(sha256_of "$token")" "$sha"
check_eq "--token prints five lines" 5 "$(wc -l <<<"$out")"
out2=$("$certs" --token ci:admin)
check_has "--token NAME:ROLE names it" $'name = "ci"\nrole = "admin"' "$out2"
check_not "two tokens differ" test "$token" = "$(sed -n 's/^bearer token: //p' <<<"$out2")"
check_eq "--token stores nothing" "$listing" "$(ls -la "$d")"
check_not "--token node is refused" "$certs" --token node
for bad in "--client x:writer" "--client x" "--expired y:root" "--days 0" "--bogus" "n@300.1.2.3" \
           "n@bad!host" "ca" "bad/name" "--token" ; do
  # shellcheck disable=SC2086 # each case is several words
  "$certs" "$d" $bad >/dev/null 2>&1 && rc=0 || rc=$?
  check_eq "usage error exits 2: $bad" 2 "$rc"
done
check "--help" "$certs" --help
check_eq "usage errors change no file" "$listing" "$(ls -la "$d")"

# --- TLS 1.3, mutually authenticated ----------------------------------------------------------
# openssl s_server with n2's certificate, asking for a client certificate from the CA and
# refusing the connection without one (-Verify 1 -verify_return_error).
for _ in 1 2 3 4 5; do
  port=$((20000 + RANDOM % 30000))
  openssl s_server -accept "$addr:$port" -www -tls1_3 -cert "$d/n2.crt" -key "$d/n2.key" \
    -CAfile "$d/ca.crt" -Verify 1 -verify_return_error >"$work/server.log" 2>&1 </dev/null &
  server_pid=$!
  for _ in $(seq 1 50); do
    if (exec 3<>"/dev/tcp/$addr/$port") 2>/dev/null; then break 2; fi
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  stop_server
done
if [ -z "$server_pid" ]; then
  fail "openssl s_server did not listen on $addr: $(cat "$work/server.log")"
else
  request() { # cert key [verify options...]: a GET over s_client, its output
    local c="$1" k="$2"; shift 2
    printf 'GET / HTTP/1.0\r\n\r\n' | timeout 10 openssl s_client -connect "$addr:$port" -tls1_3 \
      -CAfile "$d/ca.crt" -verify_return_error -cert "$c" -key "$k" -ign_eof "$@" 2>&1 || true
  }
  out=$(request "$d/admin.crt" "$d/admin.key" -verify_ip "$addr")
  check_has "s_client admin -> n2: TLS 1.3" "Protocol  : TLSv1.3" "$out"
  check_has "s_client admin -> n2: n2 verified by address" "Verify return code: 0 (ok)" "$out"
  check_has "s_client admin -> n2: served (admin's certificate accepted)" "HTTP/1.0 200 ok" "$out"
  out=$(request "$d/n1.crt" "$d/n1.key" -verify_hostname localhost)
  check_has "s_client n1 -> n2 (node to node), localhost verified" "Verify return code: 0 (ok)" \
    "$out"
  check_has "s_client n1 -> n2: served" "HTTP/1.0 200 ok" "$out"
  out=$(request "$d/old.crt" "$d/old.key")
  check_has "an expired client certificate is refused" "certificate has expired" \
    "$(cat "$work/server.log")"
  check_not "... and not served" grep -q "HTTP/1.0 200 ok" <<<"$out"
  out=$(request "$d2/admin.crt" "$d2/admin.key")
  check_not "another CA's client certificate is not served" grep -q "HTTP/1.0 200 ok" <<<"$out"
  out=$(request "$d/admin.crt" "$d/admin.key" -verify_ip 10.1.1.1)
  check_has "a node certificate does not verify for another address" "Verify return code: 64" "$out"
  if command -v curl >/dev/null; then
    code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 10 --cacert "$d/ca.crt" \
      --cert "$d/writer.crt" --key "$d/writer.key" "https://$addr:$port/" 2>&1 || true)
    check_eq "curl --cacert with a client certificate: n2 verified, served" 200 "$code"
    code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 10 --cacert "$d/ca.crt" \
      --cert "$d/writer.crt" --key "$d/writer.key" --resolve "localhost:$port:$addr" \
      "https://localhost:$port/" 2>&1 || true)
    check_eq "curl by the name localhost" 200 "$code"
    check_not "curl without a client certificate is refused" \
      curl -sS -o /dev/null --max-time 10 --cacert "$d/ca.crt" "https://$addr:$port/"
    check_not "curl with another CA is refused" \
      curl -sS -o /dev/null --max-time 10 --cacert "$d2/ca.crt" --cert "$d/writer.crt" \
      --key "$d/writer.key" "https://$addr:$port/"
  else
    echo "skip  curl is not installed"
  fi
  stop_server
fi

if [ "$failures" -gt 0 ]; then echo "$failures check(s) failed"; exit 1; fi
echo "all checks passed"
