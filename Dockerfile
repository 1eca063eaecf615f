# The chaosctl stack image: etcd (Debian's package, the same as `make setup`)
# plus the chaosctl services. One image runs every stack container of the
# docker backend; its PID 1 is chaosctl.stack.relay (see stack/docker_specs.py).
#   docker build -t chaosctl-stack:0.1.0 .      (`chaosctl up --backend docker` does it)
FROM python:3.11.11-slim-bookworm

RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends etcd-server redis-server \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /var/lib/chaosctl/etcd

WORKDIR /opt/chaosctl
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir .

# Loopback only inside the container; the relay exposes the component's own
# ports on the container network and forwards the rest of the topology.
ENTRYPOINT []
CMD ["python", "-m", "chaosctl.services", "--help"]
