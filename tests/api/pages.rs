use crate::helpers::spawn_app;

#[tokio::test]
async fn anonymous_page_requests_go_to_the_login_page_and_come_back() {
    let app = spawn_app().await;
    let response = app.client.get(app.url("/settings/users?tab=1")).send().await.unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/login?next=%2Fsettings%2Fusers%3Ftab%3D1");
}

#[tokio::test]
async fn the_login_page_is_server_rendered() {
    let app = spawn_app().await;
    let response = app.client.get(app.url("/login")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let html = response.text().await.unwrap();
    assert!(html.contains("name=\"email\""), "{html}");
    assert!(html.contains("/pkg/intentlab.js"), "hydration script is linked");
}

#[tokio::test]
async fn signed_in_people_see_the_app_and_skip_the_login_page() {
    let app = spawn_app().await;
    let admin = app.signed_in("admin").await;
    let response = admin.get(app.url("/login")).send().await.unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/");

    let html = admin.get(app.url("/settings/api-keys")).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("Create a key"), "{html}");
}

#[tokio::test]
async fn viewers_get_no_write_controls() {
    let app = spawn_app().await;
    let viewer = app.signed_in("viewer").await;
    let html = viewer.get(app.url("/")).send().await.unwrap().text().await.unwrap();
    assert!(!html.contains("href=\"/settings/api-keys\""), "no admin navigation for viewers");
    let html = viewer.get(app.url("/settings/api-keys")).send().await.unwrap().text().await.unwrap();
    assert!(!html.contains("Create a key"));
    assert!(html.contains("needs the admin role"), "{html}");
}

#[tokio::test]
async fn unknown_pages_are_404() {
    let app = spawn_app().await;
    let admin = app.signed_in("admin").await;
    let response = admin.get(app.url("/no/such/page")).send().await.unwrap();
    assert_eq!(response.status(), 404);
}

/// Listing the page routes switches resource loading off process-wide while it runs; a server starting next to
/// one that is rendering pages (as in these test suites) must not leave the other's pages unfinished.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_finish_rendering_while_other_servers_start() {
    let servers: Vec<_> = (0..4)
        .map(|_| {
            tokio::spawn(async {
                for _ in 0..8 {
                    let app = spawn_app().await;
                    for _ in 0..5 {
                        let page = async { app.client.get(app.url("/login")).send().await?.text().await };
                        let html = tokio::time::timeout(std::time::Duration::from_secs(10), page)
                            .await
                            .expect("the login page finishes within 10 s")
                            .unwrap();
                        assert!(html.contains("</html>"));
                    }
                }
            })
        })
        .collect();
    for server in servers {
        server.await.unwrap();
    }
}

#[tokio::test]
async fn the_planner_answers_on_the_server_rendered_page() {
    let app = spawn_app().await;
    let viewer = app.signed_in("viewer").await;
    let html = viewer.get(app.url("/planner")).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("Plan a test"), "{html}");
    // The default plan (5 % baseline, +10 %, 80 % power, 2 000 units a day) is computed before any script runs.
    assert!(html.contains("data-testid=\"plan-result\"") && html.contains("days at this traffic"), "{html}");
}
