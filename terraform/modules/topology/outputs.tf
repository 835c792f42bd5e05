output "regions" {
  description = <<-EOT
    Per region name: release_name, namespace, secret_name (and the secret_keys it must hold),
    api_replicas {min, max}, worker_replicas (0 without Kafka), topics, consumer_group, and
    helm_values, the values of that region's podium chart release.
  EOT
  value       = local.regions
}

output "global" {
  description = "The global tier: release_name, namespace, secret_name, secret_keys and helm_values of its podium chart release."
  value       = local.global
}

output "release_names" {
  description = "Every Helm release name, the regions' first (in input order), then the global tier's."
  value       = concat([for r in var.regions : local.regions[r.name].release_name], [local.global.release_name])
}

output "topics" {
  description = "Per region with Kafka: its scores, rank-changes, quarantine and replication topics, in that order."
  value       = { for name, r in local.regions : name => [r.topics.scores, r.topics.rank_changes, r.topics.quarantine, r.topics.replication] if r.kafka }
}
