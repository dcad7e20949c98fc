rule fetch_data:
    output:
        stamp=f"{config['data_root']}/.acthash-{{dataset}}.json",
    params:
        root=config["data_root"],
    log:
        f"{config['data_root']}/logs/fetch_{{dataset}}.log",
    conda:
        "../envs/acthash.yaml"
    localrule: True
    shell:
        "acthash fetch-data {wildcards.dataset} --data-root {params.root} --stamp {output.stamp} > {log} 2>&1"
