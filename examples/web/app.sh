#!/bin/sh
# Serves a one-line page saying which variant of the app runs.
echo "web $(cat /app/variant) starting on :8080"
while true; do
  printf 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n' | nc -l -p 8080 >/dev/null 2>&1 || sleep 1
done
