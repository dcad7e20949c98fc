# Merge and figures write staged copies (what Snakemake tracks and may delete before a rerun) and then
# publish them to results/<view>/metrics.nc and figures/, each file in one rename.
rule merge:
    input:
        plan=LAYOUT.plan("{view}"),
        cells=view_cells,
        receipts=view_receipts,
    output:
        report(
            LAYOUT.staged_metrics("{view}"),
            caption="../report/metrics.rst",
            category="{view}",
        ),
    log:
        LAYOUT.view_log("{view}", "merge"),
    localrule: True
    conda:
        "../envs/acthash.yaml"
    params:
        out=lambda wildcards: LAYOUT.metrics(wildcards.view),
    shell:
        "acthash merge --plan {input.plan:q} --cells {input.cells:q} --receipts {input.receipts:q}"
        " --staged {output:q} --out {params.out:q} > {log:q} 2>&1"


rule figures:
    input:
        LAYOUT.staged_metrics("{view}"),
    output:
        report(
            directory(LAYOUT.staged_figures("{view}")),
            patterns=["{name}.png"],
            caption="../report/figures.rst",
            category="{view}",
        ),
    log:
        LAYOUT.view_log("{view}", "figures"),
    localrule: True
    conda:
        "../envs/acthash.yaml"
    params:
        out=lambda wildcards: LAYOUT.figures(wildcards.view),
    shell:
        "acthash plot --metrics {input:q} --staged {output:q} --outdir {params.out:q} > {log:q} 2>&1"
