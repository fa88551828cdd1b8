#!/usr/bin/env bash
# Hearth demo: installs what is missing, builds, starts 4 fake cameras, the daemon recording
# them and the lighttpd web front on https://127.0.0.1:8443, and prints `nvr status` and a
# pairing code for a browser. Everything listens on loopback or unix sockets only. Run as root
# (or with sudo).
#   packaging/demo.sh          start (or restart) the demo
#   packaging/demo.sh stop     stop it (recordings are kept under $STATE)
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)

STATE=${HEARTH_DEMO_STATE:-/var/lib/hearth-demo}
RUN=${HEARTH_DEMO_RUN:-/run/hearth-demo}
CACHE=${HEARTH_DEMO_CACHE:-/var/cache/hearth-fakecam}
CAMERAS=4
PORT=${HEARTH_DEMO_PORT:-8554}   # fixed, so the cameras in the catalog stay valid across runs
BUILD="$top/build-demo"
WEB_PORT=${HEARTH_DEMO_WEB_PORT:-8443}
ORIGIN="https://127.0.0.1:$WEB_PORT"
CERT="$STATE/tls/cert.pem"
KEY="$STATE/tls/key.pem"
CONF="$STATE/hearth.conf"
NVR="$BUILD/nvr/nvr"

# A pid file may outlive its process (kill -9, a crash): signal the pid only while it is still
# the program the file names (its /proc/<pid>/comm), never a process that reused the number.
stop_demo() {
  for name in lighttpd nvr fakecam mosquitto; do
    pidfile="$RUN/$name.pid"
    if [ -f "$pidfile" ]; then
      pid=$(cat "$pidfile")
      if [[ "$pid" =~ ^[0-9]+$ ]] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ]; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
      fi
      rm -f "$pidfile"
    fi
  done
}

if [ "${1:-}" = "stop" ]; then
  stop_demo
  echo "Demo stopped. Recordings are kept in $STATE/recordings"
  exit 0
fi

bash packaging/install-deps.sh
bash packaging/web-vendor.sh
if [ ! -f "$BUILD/build.ninja" ]; then
  meson setup "$BUILD" --buildtype=release >/dev/null
fi
ninja -C "$BUILD" >/dev/null
echo "Built $NVR"

stop_demo
mkdir -p "$STATE/logs" "$RUN" "$CACHE"
chmod 0750 "$STATE"

echo "Starting $CAMERAS fake cameras (the first run encodes their clips once; later runs reuse $CACHE)..."
"$BUILD/tests/fakecam/fakecam" --cameras "$CAMERAS" --control "$RUN/fakecam.sock" \
  --port "$PORT" --cache "$CACHE" >"$RUN/fakecam.out" 2>"$STATE/logs/fakecam.log" &
echo $! >"$RUN/fakecam.pid"
port=""
for _ in $(seq 600); do
  port=$(sed -n 's/^READY port=\([0-9]*\)$/\1/p' "$RUN/fakecam.out" 2>/dev/null || true)
  [ -n "$port" ] && break
  kill -0 "$(cat "$RUN/fakecam.pid")" 2>/dev/null || { cat "$STATE/logs/fakecam.log" >&2; exit 1; }
  sleep 0.2
done
[ -n "$port" ] || { echo "fakecam did not become ready" >&2; exit 1; }
echo "Fake cameras serving rtsp://127.0.0.1:$port/cam1/main ... /cam$CAMERAS/main"

# A local MQTT broker: reuse one already listening on 127.0.0.1:1883, else start our own there
# (or on a free port when 1883 is taken by something that does not answer MQTT).
MQTT_PORT=${HEARTH_DEMO_MQTT_PORT:-1883}
if ! mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" -t hearth/demo-probe -n 2>/dev/null; then
  if (echo >"/dev/tcp/127.0.0.1/$MQTT_PORT") 2>/dev/null; then
    MQTT_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  fi
  printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\n' "$MQTT_PORT" \
    >"$RUN/mosquitto.conf"
  /usr/sbin/mosquitto -c "$RUN/mosquitto.conf" >>"$STATE/logs/mosquitto.log" 2>&1 &
  echo $! >"$RUN/mosquitto.pid"
  for _ in $(seq 50); do
    mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" -t hearth/demo-probe -n 2>/dev/null && break
    sleep 0.1
  done
fi
echo "MQTT broker on 127.0.0.1:$MQTT_PORT"

# The web front's certificate: made on the first run, kept (browsers remember the exception).
FINGERPRINT=$(bash packaging/hearth-tls.sh --cert "$CERT" --key "$KEY" --host 127.0.0.1)

cat >"$CONF" <<CONF
# Hearth demo configuration (written by packaging/demo.sh)
[daemon]
admin_socket = $RUN/admin.sock

[storage]
root = $STATE
segment_seconds = 60

[recording]
transport = tcp

[mqtt]
host = 127.0.0.1
port = $MQTT_PORT

[web]
socket = $RUN/http.sock
origin = $ORIGIN
certificate = $CERT
CONF
"$NVR" check-config "$CONF" >/dev/null

"$NVR" run --config "$CONF" >>"$STATE/logs/nvr.log" 2>&1 &
echo $! >"$RUN/nvr.pid"
# Ready when it answers, not when the socket file exists: a daemon killed with -9 leaves its
# socket behind, and the new one replaces it only after taking the storage root's lock.
up=""
for _ in $(seq 600); do
  "$NVR" status --json --config "$CONF" >/dev/null 2>&1 && { up=1; break; }
  kill -0 "$(cat "$RUN/nvr.pid")" 2>/dev/null || break
  sleep 0.1
done
[ -n "$up" ] || { tail -20 "$STATE/logs/nvr.log" >&2; exit 1; }

# Cameras live in the catalog: add the demo cameras on the first run only.
existing=$("$NVR" cameras list --json --config "$CONF")
for i in $(seq "$CAMERAS"); do
  name="demo$i"
  grep -q "\"name\" : \"$name\"" <<<"$existing" && continue
  "$NVR" cameras add "$name" --main-url "rtsp://127.0.0.1:$port/cam$i/main" \
    --sub-url "rtsp://127.0.0.1:$port/cam$i/sub" --config "$CONF"
done

# The web front: lighttpd (TLS, web/, /api/ to the daemon's HTTP socket), loopback only. The demo
# runs it as root like the rest of the demo; systemd/hearth-web.service runs it unprivileged.
for _ in $(seq 100); do
  [ -S "$RUN/http.sock" ] && break
  sleep 0.1
done
[ -S "$RUN/http.sock" ] || echo "Warning: the daemon has not opened $RUN/http.sock; /api/ will answer 503" >&2
if (echo >"/dev/tcp/127.0.0.1/$WEB_PORT") 2>/dev/null; then
  echo "Port $WEB_PORT on 127.0.0.1 is taken; set HEARTH_DEMO_WEB_PORT to another port" >&2
  exit 1
fi
bash packaging/hearth-web-conf.sh --out "$RUN/lighttpd.conf" --address 127.0.0.1 \
  --port "$WEB_PORT" --web-dir "$top/web" --api-socket "$RUN/http.sock" --storage-root "$STATE" \
  --cert "$CERT" --key "$KEY" --errorlog "$STATE/logs/lighttpd-error.log"
/usr/sbin/lighttpd -D -f "$RUN/lighttpd.conf" >>"$STATE/logs/lighttpd.log" 2>&1 &
echo $! >"$RUN/lighttpd.pid"
web_up=""
for _ in $(seq 100); do
  if python3 -c 'import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[1])
ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[2])), timeout=1),
                server_hostname="127.0.0.1").close()' "$CERT" "$WEB_PORT" 2>/dev/null; then
    web_up=1
    break
  fi
  kill -0 "$(cat "$RUN/lighttpd.pid")" 2>/dev/null || break
  sleep 0.1
done
[ -n "$web_up" ] || { tail -20 "$STATE/logs/lighttpd-error.log" "$STATE/logs/lighttpd.log" >&2; exit 1; }

echo "Waiting for the cameras to record..."
for _ in $(seq 60); do
  n=$("$NVR" status --json --config "$CONF" | grep -c '"state" : "recording"' || true)
  [ "$n" -ge "$CAMERAS" ] && break
  sleep 0.5
done

echo
"$NVR" status --config "$CONF"
echo
echo "Recordings:  $STATE/recordings   (one MP4 segment per camera per minute)"
echo "Catalog:     $STATE/catalog.db"
echo "Logs:        $STATE/logs/"
echo "Status:      sudo $NVR status --config $CONF"
echo "MQTT:        mosquitto_sub -h 127.0.0.1 -p $MQTT_PORT -t 'hearth/#' -v"
echo "Web:         $ORIGIN   (self-signed certificate, SHA-256 $FINGERPRINT)"
echo "Stop:        sudo packaging/demo.sh stop"

# A pairing code for this machine's browser: single use, valid for 10 minutes. Open the URL,
# check that the certificate's fingerprint is the one printed, and the page pairs the browser.
cams=$(seq -f 'demo%g' -s, 1 "$CAMERAS")
echo
echo "Pair a browser (admin, all $CAMERAS cameras):"
if ! "$NVR" pair --name demo-browser --cameras "$cams" --admin --config "$CONF"; then
  echo "Could not make a pairing code: 'nvr pair' failed (see above). Once it works, run:" >&2
  echo "  sudo $NVR pair --name demo-browser --cameras $cams --admin --config $CONF" >&2
fi
