import { NavLink, Outlet } from "react-router-dom";
import { NotificationBell } from "./notifications/Bell";
import { useCurrentUser, useSignOut } from "./session";

const NAV = [
  { to: "/runs", label: "Runs", icon: "▶" },
  { to: "/runs/new", label: "New run", icon: "+" },
  { to: "/sweeps", label: "Sweeps", icon: "⋰" },
  { to: "/environments", label: "Environments", icon: "◇" },
  { to: "/datasets", label: "Datasets", icon: "▤" },
  { to: "/models", label: "Models", icon: "◆" },
  { to: "/compute", label: "Compute", icon: "▣" },
  { to: "/usage", label: "Usage", icon: "◔" },
  { to: "/audit", label: "Audit log", icon: "≡" },
];

export function Layout() {
  const user = useCurrentUser();
  const signOut = useSignOut();
  const team = user.teams[0];
  return (
    <div className="shell">
      <a href="#main" className="skip-link">
        Skip to content
      </a>
      <aside className="sidebar">
        <div className="brand">
          <span className="brand-mark" aria-hidden="true" />
          Runyard
        </div>
        <nav aria-label="Main">
          <ul className="nav">
            {NAV.map((item) => (
              <li key={item.to}>
                <NavLink to={item.to} end={item.to === "/runs"} className="nav-link">
                  <span className="nav-icon" aria-hidden="true">
                    {item.icon}
                  </span>
                  {item.label}
                </NavLink>
              </li>
            ))}
          </ul>
        </nav>
        <div className="user-box">
          <div className="user-name" data-testid="current-user">
            {user.username}
            {user.is_admin && <span className="chip chip-admin">admin</span>}
          </div>
          <div className="muted small" data-testid="current-team">
            {team ? `Team ${team.name}` : "No team"}
            {user.teams.length > 1 && ` +${user.teams.length - 1}`}
          </div>
          <NavLink to="/settings" className="btn btn-small btn-ghost">
            Settings
          </NavLink>
          <NotificationBell />
          <button type="button" className="btn btn-small btn-ghost" onClick={() => signOut.mutate()}>
            Sign out
          </button>
        </div>
      </aside>
      <main id="main" className="content" tabIndex={-1}>
        <Outlet />
      </main>
    </div>
  );
}
