# syntax=docker/dockerfile:1
# Build: docker build -t personio-cdc .
# Run:   docker run --rm personio-cdc demo
#        docker run --rm -p 9464:9464 -e ADMIN_ADDR=:9464 -e PERSONIO_TENANT=… personio-cdc run

FROM golang:1.26 AS build
WORKDIR /src
# Module downloads are cached in their own layer.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" \
      -o /out/ ./cmd/personio-cdc ./cmd/personio-sim

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/personio-cdc /out/personio-sim /usr/local/bin/
# The admin endpoint (/metrics /healthz /readyz /status). Inside a container it must listen on
# all interfaces: set ADMIN_ADDR=:9464.
ENV ADMIN_ADDR=:9464 LOG_FORMAT=json
EXPOSE 9464
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/personio-cdc"]
CMD ["run"]
