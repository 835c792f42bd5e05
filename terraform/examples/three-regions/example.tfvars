# Secrets for this example: terraform apply -var-file=secrets.tfvars (a copy of this file kept out of git),
# or TF_VAR_* environment variables.
redis_urls = {
  "us-east"  = "redis+cluster://redis-0.redis.us-east:6379,redis-1.redis.us-east:6379"
  "eu-west"  = "redis://redis-master.redis.eu-west:6379/0"
  "ap-south" = "redis://redis-master.redis.ap-south:6379/0"
  "global"   = "redis://redis-master.redis.global:6379/0"
}
game_server_keys   = { "game-server-1" = "replace-with-32-random-characters" }
admin_keys         = ["replace-with-a-long-random-admin-key"]
replication_secret = "replace-with-at-least-32-random-characters"
