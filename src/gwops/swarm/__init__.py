"""`bin/ops swarm`: the same stack on Docker Swarm, rendered from the same config (stackfile) and
deployed, watched and removed (deploy)."""
