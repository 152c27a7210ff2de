# syntax=docker/dockerfile:1
#
# pgherd container image:
#
#   docker build -t pgherd --build-arg VERSION=$(git describe --tags --always) .
#   docker run -p 8000:8000 -v $PWD/pgherd.yaml:/etc/pgherd/pgherd.yaml:ro pgherd
#
# The image listens on 0.0.0.0 (HTTP_HOST), so its config must set auth.mode
# (api_key, jwt or database_login): pgherd refuses a non-loopback listener
# without authentication. See docs/deploy.md.
#
# deploy/deploy_test.go runs the build stage's steps as a script (CI has no
# docker daemon): keep every RUN in the build stage relative to WORKDIR, and
# the compile flags those of `make build` (no -trimpath), so that script
# reuses the Go build cache instead of compiling libpg_query again.

ARG GO_VERSION=1.26

# --- build: pg_query_go is cgo (PostgreSQL's own parser in C), so the build
# needs gcc and glibc headers; golang's Debian image has both.
FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
ENV CGO_ENABLED=1 GOFLAGS=-buildvcs=false
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY cmd ./cmd
COPY internal ./internal
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    go build -ldflags "-s -w -X main.version=${VERSION}" -o bin/pgherd ./cmd/pgherd && \
    bin/pgherd version

# --- runtime: glibc (the binary is dynamically linked through cgo), CA
# certificates, no shell, no package manager; runs as the unprivileged
# "nonroot" user (65532).
FROM gcr.io/distroless/base-debian12:nonroot AS runtime
COPY --from=build /src/bin/pgherd /usr/local/bin/pgherd
USER 65532:65532
ENV HTTP_HOST=0.0.0.0 HTTP_PORT=8000
EXPOSE 8000
# Liveness of the process itself; /ready (every database answers) is for load
# balancers and Kubernetes readiness, not for restarting the container.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["/usr/local/bin/pgherd", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/pgherd"]
CMD ["serve", "--config", "/etc/pgherd/pgherd.yaml"]
