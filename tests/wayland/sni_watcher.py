"""A minimal org.kde.StatusNotifierWatcher on the session bus, written with jeepney, for the tests.

It is what a desktop's tray host (KDE Plasma, waybar, the GNOME AppIndicator extension) provides:
Qt looks for it to decide whether a system tray exists, then registers its icon with
``RegisterStatusNotifierItem``. Each registration is printed as ``REGISTERED <service> <path>``
(flushed), after ``READY`` once the name is owned. Runs until killed.

    python sni_watcher.py            # DBUS_SESSION_BUS_ADDRESS names the bus
"""

from __future__ import annotations

import sys

from jeepney import DBusAddress, HeaderFields, MessageType, new_error, new_method_return, new_signal
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import open_dbus_connection

NAME = "org.kde.StatusNotifierWatcher"
PATH = "/StatusNotifierWatcher"
INTERFACE = "org.kde.StatusNotifierWatcher"
PROPERTIES = "org.freedesktop.DBus.Properties"
INTROSPECTABLE = "org.freedesktop.DBus.Introspectable"
INTROSPECTION = f"""<node>
  <interface name="{INTERFACE}">
    <method name="RegisterStatusNotifierItem"><arg type="s" direction="in"/></method>
    <method name="RegisterStatusNotifierHost"><arg type="s" direction="in"/></method>
    <property name="RegisteredStatusNotifierItems" type="as" access="read"/>
    <property name="IsStatusNotifierHostRegistered" type="b" access="read"/>
    <property name="ProtocolVersion" type="i" access="read"/>
    <signal name="StatusNotifierItemRegistered"><arg type="s"/></signal>
    <signal name="StatusNotifierHostRegistered"/>
  </interface>
</node>"""


def main() -> int:
    connection = open_dbus_connection(bus="SESSION")
    reply = connection.send_and_get_reply(message_bus.RequestName(NAME, 4))  # DO_NOT_QUEUE
    if reply.body[0] != 1:
        print(f"could not own {NAME}: {reply.body}", flush=True)
        return 1
    items: list[str] = []
    emitter = DBusAddress(PATH, interface=INTERFACE)
    properties = {"RegisteredStatusNotifierItems": ("as", items),
                  "IsStatusNotifierHostRegistered": ("b", True), "ProtocolVersion": ("i", 0)}
    print("READY", flush=True)
    while True:
        message = connection.receive()
        header = message.header
        if header.message_type is not MessageType.method_call:
            continue
        interface = header.fields.get(HeaderFields.interface)
        member = header.fields.get(HeaderFields.member)
        sender = header.fields.get(HeaderFields.sender)
        if member == "RegisterStatusNotifierItem":
            service = message.body[0]
            # Qt passes its object path when it uses its unique bus name; the service is the sender.
            path = service if service.startswith("/") else "/StatusNotifierItem"
            name = sender if service.startswith("/") else service
            items.append(f"{name}{path}")
            print(f"REGISTERED {name} {path}", flush=True)
            connection.send(new_method_return(message))
            connection.send(new_signal(emitter, "StatusNotifierItemRegistered", "s", (f"{name}{path}",)))
        elif member == "RegisterStatusNotifierHost":
            connection.send(new_method_return(message))
        elif interface == PROPERTIES and member == "Get":
            _interface, prop = message.body
            if prop in properties:
                signature, value = properties[prop]
                connection.send(new_method_return(message, "v", ((signature, value),)))
            else:
                error = "org.freedesktop.DBus.Error.UnknownProperty"
                connection.send(new_error(message, error, "s", (prop,)))
        elif interface == PROPERTIES and member == "GetAll":
            body = {prop: (signature, value) for prop, (signature, value) in properties.items()}
            connection.send(new_method_return(message, "a{sv}", (body,)))
        elif interface == INTROSPECTABLE and member == "Introspect":
            connection.send(new_method_return(message, "s", (INTROSPECTION,)))
        else:
            error = "org.freedesktop.DBus.Error.UnknownMethod"
            connection.send(new_error(message, error, "s", (str(member),)))


if __name__ == "__main__":
    sys.exit(main())
