"""KLL sketch sizes, shared by the region that builds the sketches and the global tier that merges them."""

FINE_K = 2000    # ε ≈ 0.17%: ±1.7k ranks on a 1M-player board
COARSE_K = 200   # ε ≈ 1.3%: smaller to ship and merge, refreshed less often
