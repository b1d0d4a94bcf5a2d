"""``emgfeedback ports``: list serial ports with the board each probably is."""

from __future__ import annotations

import json


def register(subparsers) -> None:
    """Add the ``ports`` command."""
    p = subparsers.add_parser(
        "ports", help="list serial ports and guess the board from its USB IDs",
        description="List serial ports (COM3 on Windows, /dev/cu.usbmodem* on macOS, "
                    "/dev/ttyACM0 or /dev/ttyUSB0 on Linux) with the URL that opens each. "
                    "The board guess comes from the USB vendor/product ID; check what a port "
                    "sends with: emgfeedback capture --source URL")
    p.add_argument("--json", action="store_true", help="print a JSON list")
    p.set_defaults(func=run)


def run(args) -> int:
    """Print the ports; returns 0 (also when there are none)."""
    from emgfeedback.acquisition.ports import list_ports
    from emgfeedback.host import no_ports_hint

    ports = list_ports()
    if args.json:
        print(json.dumps([p.as_dict() for p in ports], indent=2))
        return 0
    if not ports:
        print(no_ports_hint())
        return 0
    for p in ports:
        guess = ", ".join(p.boards) if p.boards else "unknown board"
        ident = p.usb_id or "not USB"
        vendor = f" {p.vendor}" if p.vendor else ""
        serial = f" serial {p.serial_number}" if p.serial_number else ""
        print(f"{p.device}  [{ident}{vendor}{serial}]  {p.description}  -> {guess}")
        print(f'    --source "{p.url}"')
    return 0
