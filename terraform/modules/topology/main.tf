# Pure: no providers and no resources. Everything a deployment derives from the list of regions
# (names, replica counts, topics, secret names and each release's Helm values) is computed here
# once, so `terraform test` can check it offline and the region/global modules only apply it.

locals {
  # Per size: API replicas (HPA bounds), Faust workers, scores-topic partitions (>= workers: a
  # worker beyond the partition count owns nothing) and container resources.
  sizes = {
    small = {
      api_min = 2, api_max = 4, workers = 1, partitions = 4
      resources = {
        requests = { cpu = "250m", memory = "256Mi" }
        limits   = { cpu = "1", memory = "512Mi" }
      }
    }
    medium = {
      api_min = 3, api_max = 10, workers = 2, partitions = 8
      resources = {
        requests = { cpu = "500m", memory = "512Mi" }
        limits   = { cpu = "2", memory = "1Gi" }
      }
    }
    large = {
      api_min = 6, api_max = 30, workers = 4, partitions = 16
      resources = {
        requests = { cpu = "1", memory = "1Gi" }
        limits   = { cpu = "2", memory = "2Gi" }
      }
    }
  }

  # The keys of each release's Secret; the region and global modules write exactly these.
  secret_keys = {
    redis_url          = "redis-url"
    game_server_keys   = "game-server-keys"
    admin_keys         = "admin-keys"
    jwt_secret         = "jwt-secret"
    jwt_public_key     = "jwt-public-key"
    replication_secret = "replication-secret"
  }

  image = {
    repository = var.image.repository
    tag        = var.image.tag
    digest     = var.image.digest
    pullPolicy = "IfNotPresent"
  }

  regions = {
    for r in var.regions : r.name => {
      release_name    = "${var.name}-${r.name}"
      namespace       = r.namespace != "" ? r.namespace : "${var.name}-${r.name}"
      secret_name     = "${var.name}-${r.name}"
      size            = r.size
      url             = r.url
      api_replicas    = { min = local.sizes[r.size].api_min, max = local.sizes[r.size].api_max }
      worker_replicas = r.kafka_bootstrap == "" ? 0 : local.sizes[r.size].workers
      # Named as podium/region/stream_topics.py names them.
      topics = {
        scores       = "${var.topic_prefix}.${r.name}.scores"
        rank_changes = "${var.topic_prefix}.${r.name}.rank-changes"
        quarantine   = "${var.topic_prefix}.${r.name}.quarantine"
        replication  = "${var.topic_prefix}.${r.name}.replication"
      }
      consumer_group = "${var.topic_prefix}-${r.name}-worker"
      kafka          = r.kafka_bootstrap != ""
      secret_keys    = local.secret_keys
      helm_values = {
        role   = "region"
        region = r.name
        image  = local.image
        redis = {
          existingSecret = { name = "${var.name}-${r.name}", key = local.secret_keys.redis_url }
          cluster        = r.redis_cluster
        }
        kafka = {
          bootstrap         = r.kafka_bootstrap
          topicPrefix       = var.topic_prefix
          scoresPartitions  = local.sizes[r.size].partitions
          replicationFactor = var.kafka_replication_factor
          groupId           = "${var.topic_prefix}-${r.name}-worker"
        }
        cassandra  = { contactPoints = r.cassandra_contact_points }
        globalTier = { url = var.global_tier.url }
        boards     = var.boards
        secrets = {
          gameServerKeys    = { name = "${var.name}-${r.name}", key = local.secret_keys.game_server_keys }
          adminKeys         = { name = "${var.name}-${r.name}", key = local.secret_keys.admin_keys }
          jwtSecret         = { name = "${var.name}-${r.name}", key = local.secret_keys.jwt_secret }
          jwtPublicKey      = { name = "${var.name}-${r.name}", key = local.secret_keys.jwt_public_key }
          replicationSecret = { name = "${var.name}-${r.name}", key = local.secret_keys.replication_secret }
        }
        api = {
          resources = local.sizes[r.size].resources
          autoscaling = {
            enabled                        = true
            minReplicas                    = local.sizes[r.size].api_min
            maxReplicas                    = local.sizes[r.size].api_max
            targetCPUUtilizationPercentage = 70
          }
        }
        worker = {
          replicas  = local.sizes[r.size].workers
          resources = local.sizes[r.size].resources
        }
        metrics = { serviceMonitor = { enabled = var.service_monitor } }
      }
    }
  }

  global_name = "${var.name}-global"
  global = {
    release_name = local.global_name
    namespace    = var.global_tier.namespace != "" ? var.global_tier.namespace : local.global_name
    secret_name  = local.global_name
    url          = var.global_tier.url
    secret_keys  = { for k, v in local.secret_keys : k => v if contains(["redis_url", "admin_keys", "replication_secret"], k) }
    helm_values = {
      role  = "global"
      image = local.image
      redis = {
        existingSecret = { name = local.global_name, key = local.secret_keys.redis_url }
        cluster        = var.global_tier.redis_cluster
      }
      globalTier = { regionUrls = { for r in var.regions : r.name => r.url } }
      secrets = {
        adminKeys         = { name = local.global_name, key = local.secret_keys.admin_keys }
        replicationSecret = { name = local.global_name, key = local.secret_keys.replication_secret }
      }
      # One replica: the global tier keeps region status and the per-board merge locks in process memory.
      api = {
        replicas  = 1
        resources = local.sizes[var.global_tier.size].resources
        autoscaling = {
          enabled                        = false
          minReplicas                    = 1
          maxReplicas                    = 1
          targetCPUUtilizationPercentage = 70
        }
      }
    }
  }
}
