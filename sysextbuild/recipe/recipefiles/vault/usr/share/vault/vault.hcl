# Development-friendly defaults: local file storage, plain HTTP on loopback.
ui = true

storage "file" {
  path = "/var/lib/vault/data"
}

listener "tcp" {
  address     = "127.0.0.1:8200"
  tls_disable = 1
}
