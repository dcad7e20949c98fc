"""The shell around the computation: packs, status, the cost estimate, ablation runs, evidence and the `acthash`
command line (the files they read and write are `acthash.store`'s)."""
