import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { Link } from "react-router-dom";
import { api } from "../../api/client";
import type { components } from "../../api/schema";
import { formatRelative } from "../../lib/format";

type Bell = components["schemas"]["NotificationList"];

/** Unread notifications (run ended, failed with a cause, alerts), polled while the app is open. */
export function NotificationBell() {
  const [open, setOpen] = useState(false);
  const client = useQueryClient();
  const bell = useQuery({
    queryKey: ["notifications"],
    queryFn: () => api<Bell>("/api/notifications/"),
    refetchInterval: 30_000,
  });
  const read = useMutation({
    mutationFn: () => api<Bell>("/api/notifications/read/", { method: "POST", json: {} }),
    onSuccess: (data) => client.setQueryData(["notifications"], data),
  });
  const unread = bell.data?.unread ?? 0;
  return (
    <div className="bell">
      <button
        type="button"
        className="btn btn-small btn-ghost"
        aria-expanded={open}
        aria-label={`Notifications: ${unread} unread`}
        onClick={() => setOpen(!open)}
      >
        🔔{unread > 0 && <span className="badge badge-danger" data-testid="unread-count">{unread}</span>}
      </button>
      {open && (
        <div className="bell-panel card" role="dialog" aria-label="Notifications">
          {(bell.data?.results ?? []).length === 0 && <p className="muted">Nothing yet.</p>}
          <ul className="bell-list">
            {(bell.data?.results ?? []).map((n) => (
              <li key={n.id} className={n.read_at ? "muted" : ""}>
                <span className={`badge badge-${n.level === "error" ? "danger" : n.level === "warn" ? "warning" : "info"}`}>
                  {n.level}
                </span>{" "}
                {n.run != null ? <Link to={`/runs/${n.run}`}>{n.title}</Link> : n.title}
                {n.text && <div className="small">{n.text}</div>}
                <div className="small muted">{formatRelative(n.created_at)}</div>
              </li>
            ))}
          </ul>
          <div className="bell-actions">
            <button type="button" className="btn btn-small" disabled={!unread || read.isPending} onClick={() => read.mutate()}>
              Mark all read
            </button>
            <Link to="/settings/notifications" onClick={() => setOpen(false)}>
              Notification settings
            </Link>
          </div>
        </div>
      )}
    </div>
  );
}
