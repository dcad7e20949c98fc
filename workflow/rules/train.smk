rule plan:
    output:
        "results/{exp}/plan.json",
    params:
        spec=spec_json,
    log:
        "results/{exp}/logs/plan.log",
    conda:
        "../envs/acthash.yaml"
    localrule: True
    shell:
        "acthash plan --experiment {wildcards.exp} --spec {params.spec:q} --out {output} > {log} 2>&1"


rule train:
    input:
        data=pack_datasets,
    output:
        "results/{exp}/packs/{pack}.h5",
    params:
        cells=pack_cells,
        recipe=recipe_json,
        root=config["data_root"],
        state="results/{exp}/packs/{pack}.state.pt",
    log:
        "results/{exp}/logs/train/{pack}.log",
    benchmark:
        "results/{exp}/benchmarks/train/{pack}.tsv"
    conda:
        "../envs/acthash.yaml"
    resources:
        gpu=1,
        mem_mb=8000,
        runtime=240,
    shell:
        "acthash train {params.cells:q} --recipe {params.recipe:q} --data-root {params.root}"
        " --state {params.state} --out {output} > {log} 2>&1"
