rule plan:
    output:
        "results/{exp}/plan.json",
    log:
        "results/{exp}/logs/plan.log",
    localrule: True
    conda:
        "../envs/acthash.yaml"
    params:
        spec=spec_json,
    shell:
        "acthash plan --experiment {wildcards.exp} --spec {params.spec:q} --out {output} > {log} 2>&1"


rule train:
    input:
        data=pack_datasets,
    output:
        "results/{exp}/packs/{pack}.h5",
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
    params:
        cells=pack_cells,
        recipe=recipe_json,
        root=config["data_root"],
        state="results/{exp}/packs/{pack}.state.pt",
    shell:
        "acthash train {params.cells:q} --recipe {params.recipe:q} --data-root {params.root}"
        " --state {params.state} --out {output} > {log} 2>&1"
