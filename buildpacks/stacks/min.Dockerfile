# The minimal run stack, for apps that need no runtime (static sites, Go
# binaries built without cgo): a static busybox and the CA certificates.
ARG RUN_IMAGE
FROM ${RUN_IMAGE} AS run
FROM scratch
COPY --from=run /bin/busybox /bin/busybox
COPY --from=run /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
RUN ["/bin/busybox", "--install", "-s", "/bin"]
RUN mkdir -p /tmp /app && chmod 1777 /tmp
