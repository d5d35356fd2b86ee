# Consul agent configuration. Copy to /etc/consul.d/consul.hcl and edit.
# See https://developer.hashicorp.com/consul/docs/agent/config

data_dir = "/opt/consul"
