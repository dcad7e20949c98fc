"""The shell around the computation: HDF5 files, packs, plans, status, the cost estimate, ablation runs and the
`acthash` command line."""
