"""RL alignment: the simulator as a vector environment, PPO with a KL anchor and RLOO."""
