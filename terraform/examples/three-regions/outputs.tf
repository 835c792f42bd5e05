output "releases" {
  description = "Per release: its namespace and in-cluster service URL."
  value = {
    "us-east"  = { namespace = module.us_east.namespace, service_url = module.us_east.service_url }
    "eu-west"  = { namespace = module.eu_west.namespace, service_url = module.eu_west.service_url }
    "ap-south" = { namespace = module.ap_south.namespace, service_url = module.ap_south.service_url }
    "global"   = { namespace = module.global.namespace, service_url = module.global.service_url }
  }
}

output "topics" {
  description = "The Kafka topics of each region that ingests through Kafka."
  value       = module.topology.topics
}
