// A real OpenID Connect provider on loopback for the single sign-on tests: the reference
// `oidc-provider` package with its built-in (development) login and consent pages.
//
// Usage: node oidc_provider.mjs CLIENT_ID CLIENT_SECRET REDIRECT_URI ACCOUNTS_JSON
// ACCOUNTS_JSON maps a login name to its claims ({"alice": {"email": ..., ...}}); any
// password is accepted. Prints {"issuer": "http://127.0.0.1:PORT"} once it listens.
import http from "node:http";
import { Provider } from "oidc-provider";

const [clientId, clientSecret, redirectUri, accountsJson] = process.argv.slice(2);
const accounts = JSON.parse(accountsJson);

const server = http.createServer();
// Port 0, then the issuer from the port the kernel gave: no race for a free port.
server.listen(0, "127.0.0.1", () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        redirect_uris: [redirectUri],
        grant_types: ["authorization_code"],
        response_types: ["code"],
        token_endpoint_auth_method: "client_secret_post",
      },
    ],
    claims: {
      openid: ["sub"],
      email: ["email", "email_verified"],
      profile: ["name"],
    },
    async findAccount(_ctx, sub) {
      const claims = accounts[sub];
      if (!claims) {
        return undefined;
      }
      return { accountId: sub, claims: async () => ({ sub, ...claims }) };
    },
    features: { devInteractions: { enabled: true } },
    cookies: { keys: ["sso-test-cookie-key"] },
  });
  server.on("request", provider.callback());
  process.stdout.write(`${JSON.stringify({ issuer })}\n`);
});

// The test stops the process with SIGTERM; close at once rather than drain keep-alives.
process.on("SIGTERM", () => process.exit(0));
