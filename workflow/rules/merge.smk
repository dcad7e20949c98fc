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
            category="metrics",
            subcategory="{view}",
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
        # one report entry per file, under its kind (acthash.analysis.catalog) with that kind's caption
        report(
            directory(LAYOUT.staged_figures("{view}")),
            patterns=["{kind,[a-z]+}_{name}.png", "{kind,[a-z]+}_{name}.md"],
            caption="../report/figures.rst",
            category="{kind}",
            subcategory="{view}",
        ),
    log:
        LAYOUT.view_log("{view}", "figures"),
    localrule: True
    conda:
        "../envs/acthash.yaml"
    params:
        out=lambda wildcards: LAYOUT.figures(wildcards.view),
        captions=captions(),
    shell:
        "acthash plot --metrics {input:q} --staged {output:q} --outdir {params.out:q} > {log:q} 2>&1"
