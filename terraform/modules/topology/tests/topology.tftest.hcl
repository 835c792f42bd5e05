# `terraform test` plans only: the module is pure, so every assertion is about computed values.

variables {
  image = { repository = "registry.example.com/podium", tag = "0.1.0" }
  regions = [
    { name = "us-east", url = "https://podium-us-east.example.com", size = "large", kafka_bootstrap = "kafka-0.us-east:9092,kafka-1.us-east:9092" },
    { name = "eu-west", url = "https://podium-eu-west.example.com", size = "medium", kafka_bootstrap = "kafka.eu-west:9092" },
    { name = "ap-south", url = "https://podium-ap-south.example.com" },
  ]
  global_tier = { url = "https://podium-global.example.com" }
}

run "names_and_sizes" {
  command = plan

  assert {
    condition     = output.release_names == ["podium-us-east", "podium-eu-west", "podium-ap-south", "podium-global"]
    error_message = "release names are <name>-<region>, regions first in input order, then <name>-global"
  }
  assert {
    condition     = output.regions["us-east"].namespace == "podium-us-east" && output.global.namespace == "podium-global"
    error_message = "a release's namespace defaults to its release name"
  }
  assert {
    condition     = output.regions["us-east"].api_replicas == { min = 6, max = 30 } && output.regions["ap-south"].api_replicas == { min = 2, max = 4 }
    error_message = "API replica bounds follow the region's size (large 6..30, small 2..4)"
  }
  assert {
    condition     = output.regions["us-east"].helm_values.kafka.scoresPartitions >= output.regions["us-east"].worker_replicas
    error_message = "a region never runs more workers than scores partitions"
  }
  assert {
    condition     = output.regions["eu-west"].helm_values.api.autoscaling.minReplicas == 3 && output.regions["eu-west"].helm_values.api.autoscaling.maxReplicas == 10
    error_message = "the chart's HPA bounds are the size's replica bounds"
  }
}

run "topics_and_workers" {
  command = plan

  assert {
    condition     = output.topics["us-east"] == ["podium.us-east.scores", "podium.us-east.rank-changes", "podium.us-east.quarantine", "podium.us-east.replication"]
    error_message = "topics are <prefix>.<region>.<stream>, as podium/region/stream_topics.py names them"
  }
  assert {
    condition     = !contains(keys(output.topics), "ap-south") && output.regions["ap-south"].worker_replicas == 0
    error_message = "a region without Kafka has no topics and no workers"
  }
  assert {
    condition     = output.regions["eu-west"].consumer_group == "podium-eu-west-worker" && output.regions["eu-west"].helm_values.kafka.groupId == "podium-eu-west-worker"
    error_message = "the consumer group is <prefix>-<region>-worker, the app's default"
  }
  assert {
    condition     = output.regions["us-east"].worker_replicas == 4 && output.regions["eu-west"].worker_replicas == 2
    error_message = "workers follow the region's size (large 4, medium 2)"
  }
}

run "wiring_between_tiers" {
  command = plan

  assert {
    condition     = output.global.helm_values.globalTier.regionUrls == { "us-east" = "https://podium-us-east.example.com", "eu-west" = "https://podium-eu-west.example.com", "ap-south" = "https://podium-ap-south.example.com" }
    error_message = "the global tier knows every region's URL"
  }
  assert {
    condition     = alltrue([for r in output.regions : r.helm_values.globalTier.url == "https://podium-global.example.com"])
    error_message = "every region ships to the global tier's URL"
  }
  assert {
    condition     = output.global.helm_values.api.replicas == 1 && !output.global.helm_values.api.autoscaling.enabled
    error_message = "the global tier runs exactly one replica"
  }
  assert {
    condition     = alltrue([for r in output.regions : alltrue([for s in values(r.helm_values.secrets) : s.name == r.secret_name && contains(values(r.secret_keys), s.key)])])
    error_message = "every Secret reference of a region's values names that region's Secret and one of its keys"
  }
  assert {
    condition     = alltrue([for s in values(output.global.helm_values.secrets) : s.name == output.global.secret_name && contains(values(output.global.secret_keys), s.key)])
    error_message = "every Secret reference of the global tier's values names its Secret and one of its keys"
  }
}

run "custom_name_and_namespace" {
  command = plan

  variables {
    name = "lb"
    regions = [
      { name = "us-east", url = "http://10.0.0.1:8080", namespace = "games" },
    ]
    global_tier = { url = "http://10.0.0.2:8080", namespace = "games-global" }
  }

  assert {
    condition     = output.regions["us-east"].release_name == "lb-us-east" && output.regions["us-east"].namespace == "games"
    error_message = "name prefixes releases; an explicit namespace wins"
  }
  assert {
    condition     = output.global.namespace == "games-global"
    error_message = "an explicit global namespace wins"
  }
}

run "rejects_duplicate_regions" {
  command = plan

  variables {
    regions = [
      { name = "us-east", url = "https://a.example.com" },
      { name = "us-east", url = "https://b.example.com" },
    ]
  }

  expect_failures = [var.regions]
}

run "rejects_unknown_size" {
  command = plan

  variables {
    regions = [{ name = "us-east", url = "https://a.example.com", size = "huge" }]
  }

  expect_failures = [var.regions]
}

run "rejects_bad_region_name" {
  command = plan

  variables {
    regions = [{ name = "US_East", url = "https://a.example.com" }]
  }

  expect_failures = [var.regions]
}

run "rejects_empty_regions" {
  command = plan

  variables {
    regions = []
  }

  expect_failures = [var.regions]
}

run "rejects_bad_global_url" {
  command = plan

  variables {
    global_tier = { url = "podium-global:8080" }
  }

  expect_failures = [var.global_tier]
}

run "rejects_bad_digest" {
  command = plan

  variables {
    image = { repository = "podium", tag = "0.1.0", digest = "latest" }
  }

  expect_failures = [var.image]
}
