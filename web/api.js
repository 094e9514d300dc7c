// The one module that talks to the network: GraphQL over HTTP on the same origin.
export async function graphql(query, variables = {}) {
  const response = await fetch("/graphql", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ query, variables }),
  });
  const payload = await response.json();
  if (payload.errors) throw new Error(payload.errors.map((e) => e.message).join("; "));
  return payload.data;
}
