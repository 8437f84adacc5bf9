#!/usr/bin/env bash
# Installs actorkv's client library into a temporary prefix, builds the shopping-cart example
# against it as a separate CMake project, starts a 3-node loopback cluster and runs the example.
#   run_example.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build="$1"; source="$2"
work=$(mktemp -d /tmp/actorkv-example-XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

cmake --install "$build" --prefix "$work/prefix" --component dev >/dev/null
cmake -S "$source/tools/examples/shopping_cart" -B "$work/cart" -DCMAKE_PREFIX_PATH="$work/prefix" \
  -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$work/cart" -j 2 >/dev/null

# Loopback addresses of our own, derived from the PID so parallel runs do not collide.
octet=$(( ($$ % 200) + 30 ))
# TLS as in production: a CA, the nodes' certificates and a writer's for the example.
bash "$source/tools/certs" "$work/certs" n1@127.0.$octet.1 n2@127.0.$octet.2 n3@127.0.$octet.3 \
  --client admin:admin --client cart:write >/dev/null
export ACTORKV_CA="$work/certs/ca.crt" ACTORKV_CERT="$work/certs/admin.crt" \
  ACTORKV_KEY="$work/certs/admin.key"
cat >"$work/manifest.toml" <<TOML
[store]
name = "example"
partitions = 16
replicas = 3
read_quorum = 2
write_quorum = 2
quorum = "strict"
conflicts = "siblings"
[tls]
ca = "$work/certs/ca.crt"
cert = "$work/certs/{node}.crt"
key = "$work/certs/{node}.key"
TOML
for i in 1 2 3; do
  cat >>"$work/manifest.toml" <<TOML
[[node]]
name = "n$i"
host = "127.0.$octet.$i"
port = 7300
data_dir = "$work/n$i"
TOML
done
for i in 1 2 3; do
  "$build/bin/kvnode" --manifest "$work/manifest.toml" --node "n$i" >"$work/n$i.log" 2>&1 &
  pids+=($!)
done
for i in 1 2 3; do
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.$octet.$i/7300") 2>/dev/null && break
    sleep 0.1
  done
done
# Listening is not connected: wait until every node sees every member up (at most 30 s).
for i in 1 2 3; do
  for _ in $(seq 1 100); do
    status=$("$build/bin/kvsh" --connect "127.0.$octet.$i:7300" -c status 2>/dev/null) &&
      ! grep -q " down " <<<"$status" && break
    sleep 0.3
  done
done
out=$("$work/cart/shopping_cart" --connect "127.0.$octet.1:7300,127.0.$octet.2:7300" \
  --ca "$work/certs/ca.crt" --cert "$work/certs/cart.crt" --key "$work/certs/cart.key")
echo "$out"
grep -qx "siblings after concurrent adds: 2" <<<"$out"
grep -qx "siblings after the merge: 1" <<<"$out"
grep -qx "cart of alice: apples bread milk" <<<"$out"
echo "example passed"
