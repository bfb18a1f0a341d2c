# utskick: one binary for the API (serve), the workers (work) or both (all).
# gorm.io/driver/sqlite is cgo (mattn/go-sqlite3), so the build needs a C
# toolchain and the runtime glibc.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=1 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/utskick ./cmd/utskick

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates tzdata libssl3 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home /data utskick \
    && install -d -m 0700 -o utskick /data
COPY --from=build /out/utskick /usr/local/bin/utskick
USER utskick
ENV UTSKICK_DATA_DIR=/data UTSKICK_HTTP_ADDR=0.0.0.0:8080
VOLUME /data
EXPOSE 8080
ENTRYPOINT ["utskick"]
CMD ["all"]
