# free-port.sh: sourced by scripts/demo.sh and bench/bench_http.sh.
# free_port prints a free TCP port on 127.0.0.1 below the ephemeral range,
# so no outgoing connection can take it before the caller binds it.
free_port() {
  /usr/bin/python3 -c 'import random,socket
for _ in range(1000):
    p=random.randrange(20000,32000); s=socket.socket()
    try: s.bind(("127.0.0.1",p)); print(p); break
    except OSError: pass
    finally: s.close()'
}
