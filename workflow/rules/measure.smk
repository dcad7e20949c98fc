rule measure:
    input:
        pack=pack_of_cell,
    output:
        "results/{exp}/cells/{cell}.h5",
    log:
        "results/{exp}/logs/measure/{cell}.log",
    benchmark:
        "results/{exp}/benchmarks/measure/{cell}.tsv"
    conda:
        "../envs/acthash.yaml"
    threads: 2
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        recipe=recipe_json,
    shell:
        "acthash measure --pack {input.pack} --cell {wildcards.cell:q} --recipe {params.recipe:q}"
        " --out {output} > {log} 2>&1"
