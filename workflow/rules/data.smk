rule fetch_data:
    output:
        stamp=dataset_stamp(config["data_root"], "{dataset}"),
    log:
        f"{config['data_root']}/logs/fetch_{{dataset}}.log",
    localrule: True
    conda:
        "../envs/acthash.yaml"
    params:
        root=data_root_of,
    shell:
        "acthash fetch-data {wildcards.dataset} --data-root {params.root} --stamp {output.stamp} > {log} 2>&1"
