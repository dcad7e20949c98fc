rule merge:
    input:
        plan="results/{exp}/plan.json",
        cells=experiment_cells,
    output:
        report(
            "results/{exp}/metrics.nc",
            caption="../report/metrics.rst",
            category="{exp}",
        ),
    log:
        "results/{exp}/logs/merge.log",
    localrule: True
    conda:
        "../envs/acthash.yaml"
    shell:
        "acthash merge --plan {input.plan} --out {output} > {log} 2>&1"


rule figures:
    input:
        "results/{exp}/metrics.nc",
    output:
        report(
            directory("results/{exp}/figures"),
            patterns=["{name}.png"],
            caption="../report/figures.rst",
            category="{exp}",
        ),
    log:
        "results/{exp}/logs/figures.log",
    localrule: True
    conda:
        "../envs/acthash.yaml"
    shell:
        "acthash plot --metrics {input} --outdir {output} > {log} 2>&1"
