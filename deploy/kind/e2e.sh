#!/usr/bin/env bash
# End-to-end check on a local kind cluster: KEDA + Prometheus + the fleet emulator + gpuscale.
# Drives a load ramp through the emulator and asserts that the Deployment scales up while the
# ramp is still climbing, and back down to its minimum after the load stops.
#
# Needs: docker, kind, kubectl, helm, curl, python3 (and internet access for the KEDA chart and images).
# Run from the project root:  bash deploy/kind/e2e.sh      (KEEP_CLUSTER=1 keeps it afterwards)
set -euo pipefail

CLUSTER=gpuscale-e2e
HERE="deploy/kind"
NS=llm
PF_PID=""

log() { printf '\n== %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }
cleanup() {
  [ -n "$PF_PID" ] && kill "$PF_PID" 2>/dev/null || true
  if [ "${KEEP_CLUSTER:-0}" != "1" ]; then kind delete cluster --name "$CLUSTER" >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT

for tool in docker kind kubectl helm curl python3; do
  command -v "$tool" >/dev/null || fail "$tool is not installed"
done
[ -f pyproject.toml ] || fail "run from the project root"

log "cluster"
kind get clusters | grep -qx "$CLUSTER" || kind create cluster --config "$HERE/kind-config.yaml"
kubectl config use-context "kind-$CLUSTER" >/dev/null

log "images"
docker build -q -f deploy/docker/Dockerfile --target scaler -t gpuscale:e2e .
docker build -q -f deploy/docker/Dockerfile --target emulator -t gpuscale-emulator:e2e .
kind load docker-image gpuscale:e2e gpuscale-emulator:e2e --name "$CLUSTER"

log "KEDA"
helm repo add kedacore https://kedacore.github.io/charts >/dev/null 2>&1 || true
helm repo update kedacore >/dev/null
helm upgrade --install keda kedacore/keda --namespace keda --create-namespace --wait --timeout 5m

log "Prometheus and the fleet emulator"
kubectl create namespace monitoring --dry-run=client -o yaml | kubectl apply -f -
kubectl apply -f "$HERE/prometheus.yaml" -f "$HERE/emulator.yaml"
kubectl -n monitoring rollout status deploy/prometheus deploy/fleet-emulator --timeout=5m

log "gpuscale"
kubectl apply -k "$HERE/scaler"
kubectl -n gpuscale-system rollout status deploy/gpuscale --timeout=5m

log "workload and ScaledObject"
kubectl apply -f "$HERE/workload.yaml"
kubectl -n "$NS" wait --for=condition=Ready scaledobject/llama --timeout=3m

kubectl -n monitoring port-forward svc/fleet-emulator 19400:9400 >/dev/null 2>&1 &
PF_PID=$!
sleep 3

replicas() { kubectl -n "$NS" get deploy llama -o jsonpath='{.spec.replicas}'; }
ready() { kubectl -n "$NS" get deploy llama -o jsonpath='{.status.readyReplicas}'; }
load() {  # ramp STEP | idle: the body comes from ramp.py, which the test suite drives too
  local pods body; pods=$(ready); pods=${pods:-1}
  body=$(python3 "$HERE/ramp.py" "$@" "$pods")
  curl -fsS -X POST localhost:19400/control -H 'Content-Type: application/json' \
    -d "{\"namespace\":\"$NS\",\"deployment\":\"llama\",${body#\{}" >/dev/null
}

log "ramp: the queue and token rate climb for 3 minutes"
scaled_during_ramp=0
for i in $(seq 1 18); do
  load ramp "$i"
  sleep 10
  r=$(replicas)
  echo "t=$((i * 10))s queue=$((i * 3)) replicas=$r ready=$(ready)"
  if [ "$i" -lt 18 ] && [ "$r" -gt 1 ]; then scaled_during_ramp=1; fi
done
[ "$scaled_during_ramp" = 1 ] || fail "the Deployment did not scale up while the ramp was still climbing"
peak=$(replicas)
[ "$peak" -ge 3 ] || fail "expected at least 3 replicas at the top of the ramp, got $peak"

log "load stops: back to the minimum after the stabilization window and cooldown"
for i in $(seq 1 30); do
  load idle
  sleep 10
  r=$(replicas)
  echo "t=$((i * 10))s after the ramp: replicas=$r"
  if [ "$r" -eq 1 ]; then
    log "PASS: scaled up to $peak during the ramp and back to 1"
    exit 0
  fi
done
fail "still at $(replicas) replicas 5 minutes after the load stopped"
