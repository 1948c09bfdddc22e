"""Open a geogrid QGIS project with the real QGIS and report, as JSON, what QGIS made of it.

Run with Debian's own interpreter, which has the QGIS bindings (``python3-qgis``):

    QT_QPA_PLATFORM=offscreen /usr/bin/python3 tests/qgis_check.py project.qgz out.pdf

Prints ``{"read": …, "errors": […], "layers": {name: {"valid": …, "features": …,
"categories": …, "labels": …}}, "layouts": […], "items": {…}, "pdf": …}``. QGIS is
imported inside :func:`main` so that the test suite can collect this file without it.
"""

from __future__ import annotations

import json
import sys


def main(project_path: str, pdf_path: str) -> dict:
    """Load the project headless, check its layers and export its layout to ``pdf_path``."""
    from qgis.core import (
        QgsApplication,
        QgsLayoutExporter,
        QgsProject,
        QgsVectorLayer,
    )

    app = QgsApplication([], False)
    app.initQgis()
    errors: list[str] = []
    project = QgsProject.instance()
    project.readProject.connect(lambda *_: None)
    read = project.read(project_path)
    if not read:
        errors.append(project.error())
    layers = {}
    for layer in project.mapLayers().values():
        info = {"valid": layer.isValid(), "crs": layer.crs().authid()}
        if isinstance(layer, QgsVectorLayer):
            renderer = layer.renderer()
            info["features"] = layer.featureCount()
            info["renderer"] = renderer.type() if renderer else None
            info["categories"] = (
                len(renderer.categories()) if hasattr(renderer, "categories") else 0
            )
            info["labels"] = bool(layer.labelsEnabled())
            labeling = layer.labeling()
            if labeling is not None and hasattr(labeling, "settings"):
                settings = labeling.settings()
                info["label_field"] = settings.fieldName
                info["label_font"] = settings.format().font().family()
            if hasattr(renderer, "categories"):
                info["colours"] = {
                    str(c.value()): c.symbol().color().name() for c in renderer.categories()
                }
                info["legend"] = [c.label() for c in renderer.categories()][:3]
        if not layer.isValid():
            errors.append(f"layer {layer.name()} is not valid: {layer.source()}")
        layers[layer.name()] = info
    manager = project.layoutManager()
    layouts = [layout.name() for layout in manager.printLayouts()]
    items: dict[str, list[str]] = {}
    pdf = None
    for layout in manager.printLayouts():
        items[layout.name()] = sorted(type(item).__name__ for item in layout.items())
        exporter = QgsLayoutExporter(layout)
        result = exporter.exportToPdf(pdf_path, QgsLayoutExporter.PdfExportSettings())
        pdf = int(result)
        if result != QgsLayoutExporter.Success:
            errors.append(
                f"layout {layout.name()}: PDF export failed ({result}): {exporter.errorFile()}"
            )
    report = {
        "read": bool(read),
        "errors": errors,
        "layers": layers,
        "layouts": layouts,
        "items": items,
        "pdf": pdf,
        "crs": project.crs().authid(),
    }
    app.exitQgis()
    return report


if __name__ == "__main__":
    sys.stdout.write(json.dumps(main(sys.argv[1], sys.argv[2]), ensure_ascii=False) + "\n")
