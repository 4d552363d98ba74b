#!/usr/bin/env bash
# Runs a real nginx (Debian's package) on 127.0.0.1, sends it a few hundred
# varied requests, stops it and prints the directory holding access.log and
# error.log. Used by the demonstration and by the integration tests.
#
# usage: scripts/nginx-traffic.sh OUT_DIR [REQUESTS]
set -euo pipefail

out=${1:?usage: nginx-traffic.sh OUT_DIR [REQUESTS]}
requests=${2:-300}
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
[[ -x $nginx_bin ]] || { echo "nginx-traffic: nginx is not installed (scripts/install-deps.sh)" >&2; exit 1; }

mkdir -p "$out/html/api" "$out/run"
out=$(cd "$out" && pwd)
echo '<h1>lognurse demo</h1>' > "$out/html/index.html"
echo '{"status":"ok"}' > "$out/html/api/health.json"
head -c 20000 /dev/urandom | base64 > "$out/html/big.txt"

# Pick a free loopback port.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null \
  || echo $((20000 + RANDOM % 20000)))

cat > "$out/nginx.conf" <<CONF
worker_processes 1;
error_log $out/error.log info;
pid $out/run/nginx.pid;
events { worker_connections 64; }
http {
  access_log $out/access.log;
  client_body_temp_path $out/run/body;
  proxy_temp_path $out/run/proxy;
  fastcgi_temp_path $out/run/fastcgi;
  uwsgi_temp_path $out/run/uwsgi;
  scgi_temp_path $out/run/scgi;
  server {
    listen 127.0.0.1:$port;
    root $out/html;
    location /forbidden { deny all; }
    location /teapot { return 418; }
    location /redirect { return 301 /index.html; }
  }
}
CONF

"$nginx_bin" -p "$out" -c "$out/nginx.conf" -e "$out/error.log"
trap '"$nginx_bin" -p "$out" -c "$out/nginx.conf" -e "$out/error.log" -s stop 2>/dev/null || true' EXIT

for _ in $(seq 1 50); do
  curl -s -o /dev/null "http://127.0.0.1:$port/" && break
  sleep 0.1
done

paths=(/ /index.html /api/health.json /big.txt /missing.html /forbidden /teapot /redirect
       "/search?q=timeout" "/search?q=lognurse" /admin/../etc/passwd /wp-login.php)
agents=(curl/7.88 "Mozilla/5.0 (X11; Linux x86_64)" Googlebot/2.1 "python-requests/2.31")
for i in $(seq 1 "$requests"); do
  path=${paths[$((i % ${#paths[@]}))]}
  agent=${agents[$((i % ${#agents[@]}))]}
  if ((i % 17 == 0)); then
    curl -s -o /dev/null -m 5 -A "$agent" -X POST -d "n=$i" "http://127.0.0.1:$port$path" || true
  else
    curl -s -o /dev/null -m 5 -A "$agent" "http://127.0.0.1:$port$path" || true
  fi
done

"$nginx_bin" -p "$out" -c "$out/nginx.conf" -e "$out/error.log" -s stop
trap - EXIT
# nginx writes its logs before it exits; wait for the pid file to go.
for _ in $(seq 1 50); do [[ -e $out/run/nginx.pid ]] || break; sleep 0.1; done
echo "$out"
