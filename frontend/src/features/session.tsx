import { useMutation, useQueryClient } from "@tanstack/react-query";
import { createContext, useContext, useEffect, useState, type FormEvent, type ReactNode } from "react";
import { api, ApiError, requestsSettled } from "../api/client";
import { useSession } from "../api/queries";
import type { SessionUser } from "../api/types";
import { ErrorNotice, Spinner } from "../components/Feedback";

const SessionContext = createContext<SessionUser | null>(null);

/** The signed-in user; every page below the gate can rely on it. */
export function useCurrentUser(): SessionUser {
  const user = useContext(SessionContext);
  if (!user) throw new Error("useCurrentUser outside the signed-in area");
  return user;
}

export function SessionGate({ children }: { children: ReactNode }) {
  const session = useSession();
  const queryClient = useQueryClient();
  const signedOut = session.isSuccess && !session.data;
  useEffect(() => {
    // After the pages unmounted (effects run after the commit), so none of them re-creates
    // its query: the next person to sign in here sees nothing of the last one's data.
    if (signedOut) queryClient.removeQueries({ predicate: (query) => query.queryKey[0] !== "session" });
  }, [signedOut, queryClient]);
  if (session.isPending) return <Spinner label="Starting Runyard…" />;
  if (session.isError) return <ErrorNotice error={session.error} onRetry={() => void session.refetch()} />;
  if (!session.data) return <SignInPage />;
  return <SessionContext.Provider value={session.data}>{children}</SessionContext.Provider>;
}

export function useSignOut() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: async () => {
      // The gate watches ["session"]: null there shows the sign-in form, unmounting the
      // pages (nothing polls any more), and the gate then drops every other cached query.
      // (queryClient.clear() here orphaned the gate's observer, which kept showing the old
      // user over pages answering "not signed in".) Their requests already sent land
      // before the session ends, or they would come back 401.
      queryClient.setQueryData(["session"], null);
      await requestsSettled(5000);
      await api<void>("/api/auth/session/", { method: "DELETE" });
    },
    // Not signed out after all (the server could not be reached): show what the server says.
    onError: () => void queryClient.invalidateQueries({ queryKey: ["session"] }),
  });
}

function SignInPage() {
  const queryClient = useQueryClient();
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const signIn = useMutation({
    mutationFn: async () => {
      // The CSRF cookie comes with the session GET; make sure we have one before the POST.
      if (!document.cookie.includes("csrftoken=")) await api("/api/auth/session/").catch(() => undefined);
      return api<SessionUser>("/api/auth/session/", { json: { username, password } });
    },
    onSuccess: (user) => queryClient.setQueryData(["session"], user),
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    signIn.mutate();
  };
  const message =
    signIn.error instanceof ApiError && signIn.error.status === 400
      ? "That username and password don't match an account."
      : signIn.error
        ? signIn.error.message
        : null;
  return (
    <main className="signin">
      <form className="signin-card" onSubmit={submit} aria-labelledby="signin-title">
        <div className="brand brand-large">
          <span className="brand-mark" aria-hidden="true" />
          Runyard
        </div>
        <h1 id="signin-title">Sign in</h1>
        <p className="muted">Create, launch and watch your training runs.</p>
        <label htmlFor="username">Username</label>
        <input
          id="username"
          name="username"
          autoComplete="username"
          autoFocus
          required
          value={username}
          onChange={(e) => setUsername(e.target.value)}
        />
        <label htmlFor="password">Password</label>
        <input
          id="password"
          name="password"
          type="password"
          autoComplete="current-password"
          required
          value={password}
          onChange={(e) => setPassword(e.target.value)}
        />
        {message && (
          <div className="notice notice-danger" role="alert">
            {message}
          </div>
        )}
        <button type="submit" className="btn btn-primary btn-block" disabled={signIn.isPending}>
          {signIn.isPending ? "Signing in…" : "Sign in"}
        </button>
      </form>
    </main>
  );
}
