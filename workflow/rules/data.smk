rule fetch_data:
    output:
        stamp=dataset_stamp(DATA, "{dataset}"),
    log:
        f"{DATA}/logs/fetch_{{dataset}}.log",
    localrule: True
    conda:
        "../envs/acthash.yaml"
    params:
        root=data_root_of,
    shell:
        "acthash fetch-data {wildcards.dataset:q} --data-root {params.root:q} --stamp {output.stamp:q} > {log:q} 2>&1"
