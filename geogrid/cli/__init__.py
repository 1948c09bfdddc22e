"""The ``geogrid`` command line: thin typer commands over the library.

Exit codes: 0 success (a valid plan), 1 the plan has problems, 2 bad input (the message says
what to do).

One module per command group; this package only names the commands and builds the app:

==============  =================================================================
``plans``       ``validate``, ``import``, ``report``
``demo``        ``demo``, ``samples``
``partition``   ``partition``
``redraw``      ``redraw``
``maps``        ``map``, ``signs``, ``cards``, ``qgis`` (a QGIS project)
``locate``      ``locate``
``serve``       ``serve``
``store``       ``store save / list / approve / activate / export``
``people``      ``store staff show / set / history``, ``store people [QUERY | show ID]``
``rosters``     ``staff import / export`` (花名册: Excel rosters into plans and the store)
``keys``        ``keys create / list / revoke``
``addresses``   ``addresses match`` (household registers → buildings)
``example``     ``example`` (the real systems rebuilt)
``incidents``   ``incidents simulate`` (a year of incidents), ``relocate``
==============  =================================================================
"""

from __future__ import annotations

import typer

from geogrid.cli import (
    addresses,
    demo,
    example,
    incidents,
    keys,
    locate,
    maps,
    partition,
    people,
    plans,
    redraw,
    rosters,
    serve,
    store,
)

__all__ = ["app"]

app = typer.Typer(
    help="geogrid: community grid plans (网格划分) — validate, store, report.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
store_app = typer.Typer(
    help="Plan versions in the store (embedded file or PostGIS).", no_args_is_help=True
)
keys_app = typer.Typer(
    help="API keys of the service: create (shown once), list, revoke.", no_args_is_help=True
)
staff_app = typer.Typer(
    help="A grid's staff in time: show (--at), set (--from), history.", no_args_is_help=True
)
roster_app = typer.Typer(
    help="Staff rosters (花名册): import from Excel into a plan or the store, export.",
    no_args_is_help=True,
)
incidents_app = typer.Typer(
    help="Incidents in the store: simulate a year of them.", no_args_is_help=True
)

app.command("validate")(plans.validate)
app.command("import")(plans.import_)
app.command("report")(plans.report)
app.command("demo")(demo.demo)
app.command("samples")(demo.samples_cmd)
app.command("partition")(partition.partition_cmd)
app.command("map")(maps.map_cmd)
app.command("signs")(maps.signs_cmd)
app.command("cards")(maps.cards_cmd)
app.command("qgis")(maps.qgis_cmd)
app.command("redraw")(redraw.redraw_cmd)
app.command("locate")(locate.locate_cmd)
app.command("serve")(serve.serve_cmd)
app.command("example")(example.example_cmd)

addresses_app = typer.Typer(
    help="Household registers (户籍台账): addresses matched to buildings, offline.",
    no_args_is_help=True,
)
addresses_app.command("match")(addresses.match_cmd)
app.add_typer(addresses_app, name="addresses")

store_app.command("save")(store.store_save)
store_app.command("list")(store.store_list)
store_app.command("approve")(store.store_approve)
store_app.command("activate")(store.store_activate)
store_app.command("export")(store.store_export)
jurisdiction_app = typer.Typer(
    help="The jurisdictions plans govern (街道/乡镇) and the codes above them (县)",
    no_args_is_help=True,
)
jurisdiction_app.command("add")(store.jurisdiction_add)
jurisdiction_app.command("list")(store.jurisdiction_list)
store_app.add_typer(jurisdiction_app, name="jurisdiction")
store_app.command("people")(people.people_cmd)
staff_app.command("show")(people.staff_show)
staff_app.command("set")(people.staff_set)
staff_app.command("history")(people.staff_history)
store_app.add_typer(staff_app, name="staff")
app.add_typer(store_app, name="store")

roster_app.command("import")(rosters.staff_import)
roster_app.command("export")(rosters.staff_export)
app.add_typer(roster_app, name="staff")

keys_app.command("create")(keys.keys_create)
keys_app.command("list")(keys.keys_list)
keys_app.command("revoke")(keys.keys_revoke)
app.add_typer(keys_app, name="keys")

incidents_app.command("simulate")(incidents.incidents_simulate)
incidents_app.command("relocate")(incidents.incidents_relocate)
app.add_typer(incidents_app, name="incidents")
