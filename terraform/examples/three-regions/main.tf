# Three regions and a global tier, each in its own Kubernetes cluster. Terraform cannot give a
# module instance its provider from a for_each key, so each cluster has its own pair of provider
# aliases and its own module block; the topology module computes everything else once.

provider "kubernetes" {
  alias          = "us_east"
  config_path    = var.kubeconfig_path
  config_context = var.kube_contexts.us_east
}

provider "helm" {
  alias = "us_east"
  kubernetes = {
    config_path    = var.kubeconfig_path
    config_context = var.kube_contexts.us_east
  }
}

provider "kubernetes" {
  alias          = "eu_west"
  config_path    = var.kubeconfig_path
  config_context = var.kube_contexts.eu_west
}

provider "helm" {
  alias = "eu_west"
  kubernetes = {
    config_path    = var.kubeconfig_path
    config_context = var.kube_contexts.eu_west
  }
}

provider "kubernetes" {
  alias          = "ap_south"
  config_path    = var.kubeconfig_path
  config_context = var.kube_contexts.ap_south
}

provider "helm" {
  alias = "ap_south"
  kubernetes = {
    config_path    = var.kubeconfig_path
    config_context = var.kube_contexts.ap_south
  }
}

provider "kubernetes" {
  alias          = "global"
  config_path    = var.kubeconfig_path
  config_context = var.kube_contexts.global
}

provider "helm" {
  alias = "global"
  kubernetes = {
    config_path    = var.kubeconfig_path
    config_context = var.kube_contexts.global
  }
}

module "topology" {
  source = "../../modules/topology"

  name        = "podium"
  image       = var.image
  regions     = var.regions
  global_tier = var.global_tier
  boards      = var.boards
}

module "us_east" {
  source = "../../modules/region"
  providers = {
    helm       = helm.us_east
    kubernetes = kubernetes.us_east
  }

  release            = module.topology.regions["us-east"]
  redis_url          = var.redis_urls["us-east"]
  game_server_keys   = var.game_server_keys
  admin_keys         = var.admin_keys
  replication_secret = var.replication_secret
  jwt_secret         = var.jwt_secret
}

module "eu_west" {
  source = "../../modules/region"
  providers = {
    helm       = helm.eu_west
    kubernetes = kubernetes.eu_west
  }

  release            = module.topology.regions["eu-west"]
  redis_url          = var.redis_urls["eu-west"]
  game_server_keys   = var.game_server_keys
  admin_keys         = var.admin_keys
  replication_secret = var.replication_secret
  jwt_secret         = var.jwt_secret
}

module "ap_south" {
  source = "../../modules/region"
  providers = {
    helm       = helm.ap_south
    kubernetes = kubernetes.ap_south
  }

  release            = module.topology.regions["ap-south"]
  redis_url          = var.redis_urls["ap-south"]
  game_server_keys   = var.game_server_keys
  admin_keys         = var.admin_keys
  replication_secret = var.replication_secret
  jwt_secret         = var.jwt_secret
}

module "global" {
  source = "../../modules/global"
  providers = {
    helm       = helm.global
    kubernetes = kubernetes.global
  }

  release            = module.topology.global
  redis_url          = var.redis_urls["global"]
  admin_keys         = var.admin_keys
  replication_secret = var.replication_secret
}
