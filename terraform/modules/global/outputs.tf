output "release_name" {
  description = "The Helm release name."
  value       = helm_release.this.name
}

output "namespace" {
  description = "The namespace the global tier runs in."
  value       = local.namespace
}

output "secret_name" {
  description = "The Secret holding the global tier's credentials."
  value       = kubernetes_secret_v1.this.metadata[0].name
}

output "service_url" {
  description = "The global tier's API inside its cluster (GraphQL at /graphql, replication intake at /v1/replicate)."
  value       = "http://${var.release.release_name}.${local.namespace}.svc"
}

output "status" {
  description = "The Helm release status (deployed, failed, …)."
  value       = helm_release.this.status
}
