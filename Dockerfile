# polyws in a container: Debian 12, built exactly as `./run build` builds it, then only the
# `polyws` binary, the scenario library and the runtime libraries in a small final image.
#
#   docker build -t polyws .
#   docker run --rm polyws check /usr/local/share/polyws/scenarios
#   docker run --rm -v "$PWD:/work" -w /work polyws check --junit report.xml scenarios/
#
# The package lists are packages/*.txt, the ones ./run installs from; this file names no package
# itself.  tests/integration/dist_packages.sh checks that (and that packages/runtime.txt covers
# every library the built binary links), because no container daemon runs where this is tested:
# the Dockerfile itself has not been built there (README, "Container image").

# ---- build stage: the build packages, then ./run build (cmake configure + build in build/)
FROM debian:bookworm-slim AS build
ARG DEBIAN_FRONTEND=noninteractive
WORKDIR /src
COPY packages/ packages/
RUN apt-get update \
 && sed 's/#.*//' packages/build.txt | xargs apt-get install -y --no-install-recommends \
 && rm -rf /var/lib/apt/lists/*
COPY . .
RUN ./run build \
 && cmake --install build --prefix /staging

# ---- final stage: the runtime libraries, the binary, the scenarios, a non-root user
FROM debian:bookworm-slim
ARG DEBIAN_FRONTEND=noninteractive
COPY packages/runtime.txt /tmp/runtime.txt
RUN apt-get update \
 && sed 's/#.*//' /tmp/runtime.txt | xargs apt-get install -y --no-install-recommends \
 && rm -rf /var/lib/apt/lists/* /tmp/runtime.txt
COPY --from=build /staging/bin/polyws /usr/local/bin/polyws
COPY --from=build /src/scenarios /usr/local/share/polyws/scenarios
RUN useradd --create-home --user-group --uid 10001 polyws
USER polyws
WORKDIR /home/polyws
# A smoke test while building: a missing runtime library fails here, not at the user's.
RUN polyws check /usr/local/share/polyws/scenarios/happy_path.yaml \
                 /usr/local/share/polyws/scenarios/tls_happy_path.yaml
ENTRYPOINT ["polyws"]
CMD ["--help"]
