locals {
  chart     = coalesce(var.chart, "${path.module}/../../../helm/podium")
  namespace = var.create_namespace ? kubernetes_namespace_v1.this[0].metadata[0].name : var.release.namespace
  labels = {
    "app.kubernetes.io/part-of"    = "podium"
    "app.kubernetes.io/managed-by" = "terraform"
    "podium.dev/role"              = "global"
  }
  # The Secret the chart's values reference, key for key (the topology module names the keys).
  secret_data = {
    (var.release.secret_keys.redis_url)          = var.redis_url
    (var.release.secret_keys.admin_keys)         = jsonencode(var.admin_keys)
    (var.release.secret_keys.replication_secret) = var.replication_secret
  }
}

resource "kubernetes_namespace_v1" "this" {
  count = var.create_namespace ? 1 : 0

  metadata {
    name   = var.release.namespace
    labels = local.labels
  }
}

resource "kubernetes_secret_v1" "this" {
  metadata {
    name      = var.release.secret_name
    namespace = local.namespace
    labels    = local.labels
  }

  type = "Opaque"
  data = local.secret_data
}

resource "helm_release" "this" {
  name        = var.release.release_name
  namespace   = local.namespace
  chart       = local.chart
  version     = var.chart_version
  atomic      = var.atomic
  wait        = true
  timeout     = var.timeout_s
  max_history = 10

  values = [
    yamlencode(var.release.helm_values),
    # The pod rolls when a credential changes (env from a Secret is read at container start only).
    yamlencode({ podAnnotations = { "podium.dev/secret-checksum" = nonsensitive(sha256(jsonencode(local.secret_data))) } }),
    yamlencode(var.values_overrides),
  ]

  depends_on = [kubernetes_secret_v1.this]
}
